import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MEASURES, compareViews, corpusAvailable, listCorpus, oracleView, readMessage, readOracle, type Agreement } from './testing/oracle-compare.js';
import { ourView } from './testing/our-view.js';

// The shared corpus lives beside the repository (/work/shared when the repo is /work/main).
const skip = corpusAvailable() ? false : 'shared corpus not present';
const NOTES = new URL('../test-data/corpus-disagreements.tsv', import.meta.url);

function loadNotes(): Map<string, { measures: string; verdict: string; reason: string }> {
  const notes = new Map<string, { measures: string; verdict: string; reason: string }>();
  for (const line of readFileSync(NOTES, 'utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const [file, measures, verdict, reason] = line.split('\t');
    notes.set(file!, { measures: measures!, verdict: verdict!, reason: reason! });
  }
  return notes;
}

function scoreCorpus(): { total: number; agree: Record<keyof Agreement, number>; disagreements: Map<string, string[]> } {
  const agree = Object.fromEntries(MEASURES.map((m) => [m, 0])) as Record<keyof Agreement, number>;
  const disagreements = new Map<string, string[]>();
  const files = listCorpus();
  for (const file of files) {
    const result = compareViews(oracleView(readOracle(file)), ourView(readMessage(file)));
    const failed = MEASURES.filter((m) => !result[m]);
    for (const m of MEASURES) if (result[m]) agree[m]++;
    if (failed.length) disagreements.set(file, failed);
  }
  return { total: files.length, agree, disagreements };
}

let cached: ReturnType<typeof scoreCorpus> | undefined;
const score = (): ReturnType<typeof scoreCorpus> => (cached ??= scoreCorpus());

test('corpus: agreement with the oracle on structure, types, filenames and payloads', { skip }, (t) => {
  const { total, agree } = score();
  for (const m of MEASURES) t.diagnostic(`${m}: ${agree[m]}/${total} (${((100 * agree[m]) / total).toFixed(1)}%)`);
  // floors a little below today's numbers, so a regression fails the test
  assert.ok(agree.structure / total >= 0.985);
  assert.ok(agree.payloads / total >= 0.975);
  assert.ok(agree.files / total >= 0.985);
});

test('corpus: every disagreement with the oracle has a note saying who is right', { skip }, () => {
  const notes = loadNotes();
  const missing = [...score().disagreements].filter(([file]) => !notes.has(file)).map(([file, m]) => `${file} (${m.join(',')})`);
  assert.deepEqual(missing, []);
});

test('corpus: no message makes the parser throw', { skip }, () => {
  for (const file of listCorpus()) assert.doesNotThrow(() => ourView(readMessage(file)), file);
});
