// The local run's log files: appended, and rotated by size into .1, .2 … keeping a bounded number.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RotatingLogFile } from './log-file.js';

test('lines are appended until the next one would pass the size, then the file moves to .1, .1 to .2, the oldest goes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'log-file-'));
  try {
    const path = join(dir, 'logs', 'smtp-ingress.log');
    const log = new RotatingLogFile(path, 20, 2);
    for (const line of ['line-1 abcdefg\n', 'line-2 abcdefg\n', 'line-3 abcdefg\n', 'line-4 abcdefg\n']) log.write(line);
    log.close();
    assert.equal(readFileSync(path, 'utf8'), 'line-4 abcdefg\n');
    assert.equal(readFileSync(`${path}.1`, 'utf8'), 'line-3 abcdefg\n');
    assert.equal(readFileSync(`${path}.2`, 'utf8'), 'line-2 abcdefg\n');
    assert.equal(existsSync(`${path}.3`), false, 'only two old files are kept');
    const reopened = new RotatingLogFile(path, 40, 2);
    reopened.write('line-5\n');
    reopened.close();
    reopened.write('late output of a stopped process\n');
    reopened.close();
    assert.equal(readFileSync(path, 'utf8'), 'line-4 abcdefg\nline-5\n', 'a restart appends to the file it finds');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
