// Scores ours, mailparser and postal-mime against the mime-oracle records on measures all
// three can be judged on: files (leaves with a filename: same content multiset) and
// attachments (every non-body leaf: same count, and same content multiset).
// Usage: node bench/oracle-score.mjs   (after npx tsc -b)
import { corpusAvailable, listCorpus, oracleView, readMessage, readOracle } from '../dist/testing/oracle-compare.js';
import { isAttachment, parsers } from './peers.mjs';

const sameMultiset = (a, b) => a.length === b.length && [...a].sort().every((v, i) => v === [...b].sort()[i]);

export async function scorePeers() {
  if (!corpusAvailable()) return null;
  const files = listCorpus();
  const table = {};
  for (const [name, parser] of Object.entries(parsers)) {
    const score = { attachmentCount: 0, attachmentContents: 0, files: 0, errors: 0 };
    for (const file of files) {
      const oracle = oracleView(readOracle(file)).filter((p) => p.kind === 'leaf' && p.sha256 && isAttachment(p.contentType, p.filename));
      let got;
      try {
        got = parser.attachments(await parser.parse(readMessage(file)));
      } catch {
        score.errors++;
        continue;
      }
      if (got.length === oracle.length) score.attachmentCount++;
      if (sameMultiset(got.map((a) => a.sha256), oracle.map((p) => p.sha256))) score.attachmentContents++;
      const named = (list) => list.filter((a) => a.filename).map((a) => a.sha256);
      if (sameMultiset(named(got), named(oracle))) score.files++;
    }
    table[name] = score;
  }
  return { total: files.length, table };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await scorePeers();
  if (!result) console.log('corpus not available');
  else {
    console.log(`messages: ${result.total}`);
    for (const [name, s] of Object.entries(result.table)) {
      const pct = (n) => `${n} (${((100 * n) / result.total).toFixed(1)}%)`;
      console.log(`${name.padEnd(12)} attachment count ${pct(s.attachmentCount)}  attachment contents ${pct(s.attachmentContents)}  files ${pct(s.files)}  errors ${s.errors}`);
    }
  }
}
