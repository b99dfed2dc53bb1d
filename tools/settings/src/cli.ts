#!/usr/bin/env node
// `npm run docs:settings`: writes the README's settings tables from the manifest; `--check` only says
// which variables differ (exit 1), `--json` prints the manifest (service → settings).
import { settingsManifest } from './manifest.js';
import { differences, readReadme, withSettings, writeReadme } from './readme.js';

const args = process.argv.slice(2);
if (args.includes('--json')) {
  console.log(JSON.stringify(settingsManifest(), null, 2));
} else if (args.includes('--check')) {
  const problems = differences(readReadme());
  for (const problem of problems) console.error(problem);
  process.exit(problems.length === 0 ? 0 : 1);
} else {
  const before = readReadme();
  const after = withSettings(before);
  if (after !== before) writeReadme(after);
  console.log(after === before ? 'README.md settings: up to date' : 'README.md settings: written');
}
