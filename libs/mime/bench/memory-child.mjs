// Child process for bench/run.mjs: parses one generated 20 MB message with one parser and
// prints the peak of heapUsed + arrayBuffers (sampled every 1 ms and after parsing) above the
// baseline that already holds the input. Garbage not yet collected counts too.
import { randomBytes } from 'node:crypto';
import { buildMessage, MimeStreamParser } from '../dist/index.js';
import { parsers } from './peers.mjs';

const name = process.argv[2];
const big = buildMessage({ from: 'a@example.com', to: ['b@example.com'], subject: 'big', text: 'see attachment', attachments: [{ filename: 'big.bin', content: randomBytes(15 * 1024 * 1024 - 1000) }] });
globalThis.gc();
const base = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
let heapPeak = 0;
const sample = () => {
  const m = process.memoryUsage();
  heapPeak = Math.max(heapPeak, m.heapUsed + m.arrayBuffers);
};
const timer = setInterval(sample, 1);
if (name === 'ours-stream') {
  // the streaming API: the attachment goes out in decoded chunks, 64 KB writes
  let bytes = 0;
  const parser = new MimeStreamParser({ onPartData: (_p, c) => { bytes += c.length; } });
  for (let i = 0; i < big.length; i += 65536) {
    parser.write(big.subarray(i, i + 65536));
    if (i % (1 << 20) === 0) { sample(); await new Promise((r) => setImmediate(r)); }
  }
  parser.end();
} else {
  const result = await parsers[name].parse(big);
  sample();
  void result;
}
clearInterval(timer);
sample();
process.stdout.write(JSON.stringify({ heapPeak: heapPeak - base }));
