#!/usr/bin/env node
// Runs compiled test files (dist/**/*.test.js) with node's test runner, one `node --test` for the files
// chosen, so node runs them one file at a time on two cores, as it always has.
//   node scripts/run-tests.mjs                      every project's tests, end-to-end suites included
//   node scripts/run-tests.mjs --unit               without the end-to-end suites (files under an e2e/ folder)
//   node scripts/run-tests.mjs --unit apps/pop3-access      one project's tests (the nx `test` target)
//   node scripts/run-tests.mjs --e2e libs/testing/src/e2e   the end-to-end suites (the nx `e2e` target)
// A project root under src/ (the e2e project) names the matching folder under dist/. Other arguments go to
// `node --test`. With MAIL_TEST_SUMMARY_DIR set, the run's counts are also written there as TAP
// (scripts/test-summary.mjs adds them up after `nx run-many`).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const e2eOnly = args.includes('--e2e');
const projects = args.filter((a) => !a.startsWith('-') && statSafe(join(root, a))?.isDirectory());
const extra = args.filter((a) => a !== '--unit' && a !== '--e2e' && !projects.includes(a));

function statSafe(path) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.js')) {
      const e2e = path.includes('/e2e/');
      if (!(unitOnly && e2e) && !(e2eOnly && !e2e)) files.push(path);
    }
  }
}
const roots = projects.length
  ? projects
  : ['libs', 'apps', 'tools'].flatMap((group) => readdirSync(join(root, group)).map((pkg) => join(group, pkg)));
for (const project of roots) {
  const dist = project.includes('/src/') ? project.replace('/src/', '/dist/') : join(project, 'dist');
  if (statSafe(join(root, dist))?.isDirectory()) walk(join(root, dist)); // else: not built, or no tests
}
files.sort();
if (files.length === 0) {
  console.log(`no test files in ${roots.join(', ')}`);
  process.exit(0);
}

const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout'];
const summaryDir = process.env.MAIL_TEST_SUMMARY_DIR;
if (summaryDir) {
  mkdirSync(summaryDir, { recursive: true });
  const name = (projects.join('+') || 'all').replaceAll('/', '_') + (e2eOnly ? '.e2e' : unitOnly ? '.unit' : '');
  reporters.push('--test-reporter=tap', `--test-reporter-destination=${join(summaryDir, `${name}.tap`)}`);
}
const result = spawnSync(process.execPath, ['--test', ...reporters, ...extra, ...files], { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
