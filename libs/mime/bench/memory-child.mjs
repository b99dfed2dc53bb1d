// Child process for bench/memory.mjs: reads the input file, parses it with one parser (or not
// at all: "idle", the baseline) and prints the peak resident set size of the whole process, in
// bytes: VmHWM from /proc/self/status, the kernel's high-water mark of this process's memory.
// (process.resourceUsage().maxRSS is not used: Linux carries the ru_maxrss of the forking
// parent over fork and exec, so a child of a large parent reports the parent's peak.)
// Every parser and input runs in a fresh process; all children load the same modules and read
// the same input, so peak(parser) - peak(idle) is what parsing cost at its worst moment.
// Usage: node bench/memory-child.mjs <idle|ours|ours-stream|mailparser|postal-mime> <file> [offsets.json]
import { readFileSync } from 'node:fs';

function peakRss() {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}
import { MimeStreamParser } from '../dist/index.js';
import { parsers } from './peers.mjs';

const [name, file, offsetsFile] = process.argv.slice(2);
const data = readFileSync(file);
const offsets = offsetsFile ? JSON.parse(readFileSync(offsetsFile, 'utf8')) : [0, data.length];
const messages = [];
for (let i = 0; i + 1 < offsets.length; i++) messages.push(data.subarray(offsets[i], offsets[i + 1]));

let parsedBytes = 0;
for (const message of messages) {
  if (name === 'idle') continue;
  if (name === 'ours-stream') {
    // the streaming API, 64 KB writes, decoded chunks handed on (counted) and not kept
    const parser = new MimeStreamParser({ onPartData: (_p, chunk) => void (parsedBytes += chunk.length) });
    for (let i = 0; i < message.length; i += 65536) parser.write(message.subarray(i, i + 65536));
    parser.end();
  } else {
    // the whole result stays reachable until the next message is parsed
    const result = await parsers[name].parse(message);
    parsedBytes += message.length;
    void result;
  }
}
process.stdout.write(JSON.stringify({ name, messages: messages.length, parsedBytes, maxRss: peakRss() }));
