// EmbeddedStore: the storage conformance suite, plus what only the file layout can show (tmp/ cleanup,
// one file per message) and the concurrent first builds of a mailbox index.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStore } from './embedded-store.js';
import { bodyOf as body, defineStoreConformance, rejectsWith } from './store-conformance.test-support.js';
import { deliveryUidl } from './types.js';

const MAX_BYTES = 64 * 1024;

defineStoreConformance({
  name: 'embedded',
  sharedReplicas: false,
  async create({ maxMessageBytes }) {
    const dir = await mkdtemp(join(tmpdir(), 'embedded-store-test-'));
    return {
      open: () => EmbeddedStore.open(dir, maxMessageBytes),
      destroy: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

async function withStore(work: (store: EmbeddedStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'embedded-store-test-'));
  const store = await EmbeddedStore.open(dir, MAX_BYTES);
  try {
    await work(store, dir);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const ALICE = 'alice@example.com';
const MESSAGE = 'Subject: hi\r\n\r\nHello Alice.\r\n';
const mailboxDir = (dir: string) => join(dir, 'mailboxes', encodeURIComponent(ALICE));

test('concurrent identical deliveries leave one file in cur/ and nothing in tmp/', async () => {
  await withStore(async (store, dir) => {
    const key = { queueId: 'Q1', recipient: ALICE };
    await Promise.all(Array.from({ length: 5 }, () => store.deliver(ALICE, key, body(MESSAGE))));
    assert.equal((await readdir(join(mailboxDir(dir), 'cur'))).length, 1);
    assert.deepEqual(await readdir(join(mailboxDir(dir), 'tmp')), []);
  });
});

test('a message over the size limit leaves nothing in tmp/', async () => {
  await withStore(async (store, dir) => {
    await rejectsWith(store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, body('x'.repeat(MAX_BYTES + 1))), 'too-large');
    assert.deepEqual(await readdir(join(mailboxDir(dir), 'tmp')), []);
  });
});

test("a deleted message's file is removed from cur/", async () => {
  await withStore(async (store, dir) => {
    const one = await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, body('one\r\n'));
    await store.deliver(ALICE, { queueId: 'Q2', recipient: ALICE }, body('two\r\n'));
    await store.deleteMessages(ALICE, [one.uidl]);
    assert.equal((await readdir(join(mailboxDir(dir), 'cur'))).length, 1);
  });
});

test('a message stored while the mailbox index is first built is never dropped from it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'embedded-store-test-'));
  try {
    const first = await EmbeddedStore.open(dir, MAX_BYTES);
    for (let i = 0; i < 150; i++) await first.deliver(ALICE, { queueId: `OLD${i}`, recipient: ALICE }, body(`old ${i}\r\n`));
    await first.close();
    // A fresh process: the index is built on first use, here by many callers at once while a delivery
    // lands. Before the fix, a build that read the directory before the new file overwrote the index
    // that already had it.
    const second = await EmbeddedStore.open(dir, MAX_BYTES);
    const listings: Array<Promise<unknown>> = [];
    let delivering = true;
    const delivered = second.deliver(ALICE, { queueId: 'NEW', recipient: ALICE }, body(MESSAGE)).finally(() => (delivering = false));
    while (delivering) {
      listings.push(second.listMessages(ALICE));
      await new Promise((r) => setImmediate(r));
    }
    const { uidl } = await delivered;
    await Promise.all(listings);
    const listed = (await second.listMessages(ALICE)).map((m) => m.uidl);
    assert.equal(listed.length, 151);
    assert.ok(listed.includes(uidl));
    await second.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a half-written message left in tmp/ is removed on open and never listed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'embedded-store-test-'));
  try {
    const first = await EmbeddedStore.open(dir, MAX_BYTES);
    const kept = await first.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, body(MESSAGE));
    await first.close();
    // What a kill -9 in the middle of a write leaves behind.
    const key = { queueId: 'Q2', recipient: ALICE };
    const tmp = join(dir, 'mailboxes', encodeURIComponent(ALICE), 'tmp');
    await mkdir(tmp, { recursive: true });
    await writeFile(join(tmp, `${deliveryUidl(key)}.5d3f`), 'Subject: half');
    await writeFile(join(dir, 'accounts.json.tmp'), '{"domains": [');

    const second = await EmbeddedStore.open(dir, MAX_BYTES);
    assert.deepEqual((await second.listMessages(ALICE)).map((m) => m.uidl), [kept.uidl]);
    assert.deepEqual(await readdir(mailboxDir(dir)), ['cur']);
    assert.deepEqual((await readdir(dir)).sort(), ['mailboxes']);
    // The interrupted delivery was never acknowledged; its retry is stored.
    assert.equal((await second.deliver(ALICE, key, body(MESSAGE))).duplicate, false);
    assert.equal((await second.listMessages(ALICE)).length, 2);
    await second.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});


test('a deleted delivery is remembered across restarts, and forgotten after the record time', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'embedded-record-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const key = { queueId: 'Q1', recipient: 'alice@example.com' };
  const store = await EmbeddedStore.open(dir, 1024 * 1024, 60_000);
  const { uidl } = await store.deliver('alice@example.com', key, body('Subject: x\r\n\r\nx\r\n'));
  await store.deleteMessages('alice@example.com', [uidl]);
  await store.close();
  const reopened = await EmbeddedStore.open(dir, 1024 * 1024, 60_000);
  assert.equal((await reopened.deliver('alice@example.com', key, body('again\r\n'))).duplicate, true, 'still known after a restart');
  await reopened.close();
  const later = await EmbeddedStore.open(dir, 1024 * 1024, 0);
  assert.equal((await later.deliver('alice@example.com', key, body('again\r\n'))).duplicate, false, 'past the record time it is a new delivery');
  assert.equal((await later.listMessages('alice@example.com')).length, 1);
  await later.close();
});
