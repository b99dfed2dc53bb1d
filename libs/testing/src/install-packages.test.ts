// scripts/install-packages.sh: npm ci only when package-lock.json (or Node) changed since the last install,
// or node_modules is gone. Run in a scratch checkout with a stand-in npm that records its calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './mail-system.js';

test('npm ci runs on the first start, not again until the lock file changes or node_modules is removed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'install-packages-'));
  try {
    const bin = join(dir, 'bin');
    await mkdir(bin);
    // The stand-in npm: records its arguments and makes node_modules, as npm ci would.
    await writeFile(join(bin, 'npm'), '#!/bin/sh\necho "$*" >> calls.log\nrm -rf node_modules && mkdir node_modules\n');
    await chmod(join(bin, 'npm'), 0o755);
    await writeFile(join(dir, 'package-lock.json'), '{"lockfileVersion":3}\n');
    const install = async () => {
      const { stdout } = await promisify(execFile)('bash', [join(REPO_ROOT, 'scripts/install-packages.sh'), dir], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
      return stdout;
    };
    const calls = async () => (await readFile(join(dir, 'calls.log'), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean).length;

    await install();
    assert.equal(await calls(), 1, 'the first start installs');
    assert.match(await install(), /npm packages up to date/);
    assert.equal(await calls(), 1, 'an unchanged lock file: no install');
    await writeFile(join(dir, 'package-lock.json'), '{"lockfileVersion":3,"packages":{}}\n');
    await install();
    assert.equal(await calls(), 2, 'a changed lock file installs');
    await install();
    assert.equal(await calls(), 2);
    await rm(join(dir, 'node_modules'), { recursive: true });
    await install();
    assert.equal(await calls(), 3, 'node_modules removed: installs');
    assert.match(await readFile(join(dir, 'calls.log'), 'utf8'), /^ci --no-audit --no-fund --loglevel=error$/m);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
