// Group commit of directory fsyncs: many deliveries into one mailbox share fsyncs, and every caller
// still waits for an fsync that began after its own rename.
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DirectorySyncer, inDirectory } from './durable-files.js';

test('concurrent syncs of one directory coalesce into at most two fsyncs', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dirsync-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const syncer = new DirectorySyncer();
  let started = 0;
  const original = syncer['start'].bind(syncer);
  syncer['start'] = (d: string) => {
    started++;
    return original(d);
  };
  await Promise.all(Array.from({ length: 50 }, () => syncer.sync(dir)));
  assert.ok(started <= 2, `50 callers, ${started} fsyncs`);
  const before = started;
  await syncer.sync(dir);
  assert.equal(started, before + 1, 'a later caller gets an fsync of its own');
});

test('a caller arriving during an fsync waits for the next one, not the running one', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dirsync-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const syncer = new DirectorySyncer();
  const order: string[] = [];
  const first = syncer.sync(dir).then(() => order.push('first'));
  const second = syncer.sync(dir).then(() => order.push('second'));
  await Promise.all([first, second]);
  assert.deepEqual(order, ['first', 'second']);
});

test('inDirectory makes a missing directory once the operation finds it missing', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'indir-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'a', 'b');
  inDirectory(dir, () => writeFileSync(join(dir, 'x'), 'x'));
  inDirectory(dir, () => writeFileSync(join(dir, 'y'), 'y'));
  assert.deepEqual((await readdir(dir)).sort(), ['x', 'y']);
});
