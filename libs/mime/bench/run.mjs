// Throughput and peak memory of @mail/mime vs mailparser (simpleParser) and postal-mime on
// the shared corpus, 1,000 generated ~120 KB messages with attachments, and one 20 MB message.
// Usage: npm run bench   (in libs/mime; builds first). Peak memory: bench/memory.mjs (peak RSS
// of a fresh child process per parser and input, minus an idle child's).
// Throughput counts a parse as done when the parser's whole result is available.
import { corpusAvailable, listCorpus, readMessage } from '../dist/testing/oracle-compare.js';
import { makeBig, makeTypical } from './inputs.mjs';
import { measureMemory, printMemory } from './memory.mjs';
import { parsers } from './peers.mjs';
import { scorePeers } from './oracle-score.mjs';

export function makeInputs() {
  const corpus = corpusAvailable() ? listCorpus().map((f) => readMessage(f)) : [];
  return { corpus, typical: makeTypical(), big: [makeBig()] };
}

async function throughput(parser, messages, rounds) {
  const bytes = messages.reduce((n, m) => n + m.length, 0);
  for (const m of messages.slice(0, 20)) await parser.parse(m); // warm-up
  const start = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) for (const m of messages) await parser.parse(m);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { mbPerSec: (bytes * rounds) / 1e6 / seconds, msgPerSec: (messages.length * rounds) / seconds };
}

const inputs = makeInputs();
const sets = [
  ['corpus', inputs.corpus, 3],
  ['typical 120 KB x1000', inputs.typical, 1],
  ['one 20 MB message', inputs.big, 3],
];
const rows = [];
for (const [label, messages, rounds] of sets) {
  if (!messages.length) continue;
  const mb = messages.reduce((n, m) => n + m.length, 0) / 1e6;
  const result = {};
  for (const [name, parser] of Object.entries(parsers)) result[name] = await throughput(parser, messages, rounds);
  const fastestPeer = Math.max(result.mailparser.mbPerSec, result['postal-mime'].mbPerSec);
  rows.push({ label, messages: messages.length, mb, result, ratio: result.ours.mbPerSec / fastestPeer });
}
console.log(`node ${process.version}, ${new Date().toISOString()}`);
for (const row of rows) {
  console.log(`\n${row.label}: ${row.messages} messages, ${row.mb.toFixed(1)} MB`);
  for (const [name, r] of Object.entries(row.result)) console.log(`  ${name.padEnd(12)} ${r.mbPerSec.toFixed(1).padStart(8)} MB/s ${r.msgPerSec.toFixed(0).padStart(8)} msg/s`);
  console.log(`  ours / faster peer: ${row.ratio.toFixed(2)}x`);
}
console.log('');
printMemory(measureMemory(3));
const scores = await scorePeers();
if (scores) {
  console.log(`\nagreement with the oracle (${scores.total} corpus messages):`);
  for (const [name, s] of Object.entries(scores.table)) {
    const pct = (n) => `${((100 * n) / scores.total).toFixed(1)}%`;
    console.log(`  ${name.padEnd(12)} attachment count ${pct(s.attachmentCount)}, attachment contents ${pct(s.attachmentContents)}, files ${pct(s.files)}`);
  }
}
