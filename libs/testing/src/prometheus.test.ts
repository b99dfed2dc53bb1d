// The live tests' copy of the shipped Prometheus rules differs only in its `for:` windows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHIPPED_RULES } from '@mail/launcher';
import { rulesWithShortFor } from './prometheus.js';

test('the tests\' rules are the shipped ones with every for: window replaced, and nothing else', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'prometheus-rules-'));
  try {
    const shipped = await readFile(SHIPPED_RULES, 'utf8');
    const short = await readFile(await rulesWithShortFor(dir, '3s'), 'utf8');
    assert.ok(/^\s+for: \d+m$/m.test(shipped));
    assert.equal(short, shipped.replace(/^(\s+for:) .+$/gm, '$1 3s'));
    assert.equal(short.match(/^\s+for: 3s$/gm)?.length, shipped.match(/^\s+for: /gm)?.length);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
