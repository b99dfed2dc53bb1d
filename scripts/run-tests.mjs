#!/usr/bin/env node
// Runs every compiled test file (apps/*/dist, libs/*/dist) with node's test runner.
// --unit skips the end-to-end suites (files under an e2e/ folder).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const unitOnly = process.argv.includes('--unit');
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.js') && !(unitOnly && path.includes('/e2e/'))) files.push(path);
  }
}
for (const group of ['libs', 'apps', 'tools']) {
  for (const pkg of readdirSync(join(root, group))) {
    const dist = join(root, group, pkg, 'dist');
    try {
      if (statSync(dist).isDirectory()) walk(dist);
    } catch {
      // package not built or without tests
    }
  }
}
files.sort();
const extra = process.argv.slice(2).filter((a) => a !== '--unit');
const result = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...extra, ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
