#!/usr/bin/env node
// Adds up the counts that scripts/run-tests.mjs wrote (TAP, one file per nx test/e2e task) into
// MAIL_TEST_SUMMARY_DIR, and prints them as node's spec reporter ends a single run: one total for the
// whole `nx run-many`, the line CI logs are read for.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? process.env.MAIL_TEST_SUMMARY_DIR;
if (!dir) throw new Error('usage: test-summary.mjs DIR');
const keys = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];
const total = Object.fromEntries(keys.map((k) => [k, 0]));
let files = 0;
for (const name of readdirSync(dir).filter((n) => n.endsWith('.tap')).sort()) {
  files++;
  const counts = {};
  for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
    const match = /^# (\w+) (\d+)$/.exec(line);
    if (match && keys.includes(match[1])) counts[match[1]] = Number(match[2]);
  }
  for (const k of keys) total[k] += counts[k] ?? 0;
  if ((counts.fail ?? 0) + (counts.cancelled ?? 0) > 0) console.log(`✖ ${name}: ${counts.fail ?? 0} failed, ${counts.cancelled ?? 0} cancelled`);
}
console.log(`test summary of ${files} test tasks`);
for (const k of keys) console.log(`ℹ ${k} ${total[k]}`);
