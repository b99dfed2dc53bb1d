// EmbeddedStore in a temporary directory: accounts, idempotent and crash-safe delivery, maildrop leases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedStore } from './embedded-store.js';
import { deliveryUidl, StoreError } from './types.js';

const MAX_BYTES = 64 * 1024;

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

async function* body(...parts: string[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield Buffer.from(part, 'utf8');
}

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/** Asserts that `promise` rejects with a StoreError of `kind`. */
async function rejectsWith(promise: Promise<unknown>, kind: StoreError['kind']): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof StoreError && err.kind === kind);
}

const ALICE = 'alice@example.com';
const MESSAGE = 'Subject: hi\r\n\r\nHello Alice.\r\n';

// --- Domains and accounts -------------------------------------------------------------------------------

test('domains are added, listed in order, lower-cased and removed', async () => {
  await withStore(async (store) => {
    await store.addDomain('Example.COM');
    await store.addDomain('a.example');
    assert.deepEqual(await store.listDomains(), ['a.example', 'example.com']);
    assert.equal(await store.isLocalDomain('EXAMPLE.com'), true);
    assert.equal(await store.isLocalDomain('other.example'), false);
    await store.removeDomain('a.example');
    assert.deepEqual(await store.listDomains(), ['example.com']);
  });
});

test('adding a domain twice fails with "exists"', async () => {
  await withStore(async (store) => {
    await store.addDomain('example.com');
    await rejectsWith(store.addDomain('EXAMPLE.com'), 'exists');
  });
});

test('removing an unknown domain fails with "not-found"', async () => {
  await withStore(async (store) => {
    await rejectsWith(store.removeDomain('example.com'), 'not-found');
  });
});

test('removing a domain that still has accounts fails with "invalid"', async () => {
  await withStore(async (store) => {
    await store.addDomain('example.com');
    await store.addAccount({ address: ALICE, passwordHash: 'h' });
    await rejectsWith(store.removeDomain('example.com'), 'invalid');
    assert.deepEqual(await store.listDomains(), ['example.com']);
  });
});

test('accounts are added, looked up case-insensitively, listed per domain and removed', async () => {
  await withStore(async (store) => {
    await store.addDomain('example.com');
    await store.addDomain('other.example');
    await store.addAccount({ address: 'Bob@Example.com', passwordHash: 'hash-b' });
    await store.addAccount({ address: ALICE, passwordHash: 'hash-a' });
    await store.addAccount({ address: 'carol@other.example', passwordHash: 'hash-c' });
    assert.deepEqual(await store.getAccount('ALICE@example.com'), { address: ALICE, passwordHash: 'hash-a' });
    assert.deepEqual(await store.listAccounts(), [ALICE, 'bob@example.com', 'carol@other.example']);
    assert.deepEqual(await store.listAccounts('EXAMPLE.COM'), [ALICE, 'bob@example.com']);
    await store.removeAccount('bob@example.com');
    assert.equal(await store.getAccount('bob@example.com'), undefined);
  });
});

test('an account in a domain that is not local fails with "invalid"', async () => {
  await withStore(async (store) => {
    await rejectsWith(store.addAccount({ address: ALICE, passwordHash: 'h' }), 'invalid');
  });
});

test('adding an account twice fails with "exists"', async () => {
  await withStore(async (store) => {
    await store.addDomain('example.com');
    await store.addAccount({ address: ALICE, passwordHash: 'h' });
    await rejectsWith(store.addAccount({ address: 'Alice@Example.com', passwordHash: 'other' }), 'exists');
    assert.equal((await store.getAccount(ALICE))!.passwordHash, 'h');
  });
});

test('removing or re-keying an unknown account fails with "not-found"', async () => {
  await withStore(async (store) => {
    await store.addDomain('example.com');
    await rejectsWith(store.removeAccount(ALICE), 'not-found');
    await rejectsWith(store.setPasswordHash(ALICE, 'h'), 'not-found');
  });
});

test('setPasswordHash replaces the stored hash', async () => {
  await withStore(async (store) => {
    await store.addDomain('example.com');
    await store.addAccount({ address: ALICE, passwordHash: 'old' });
    await store.setPasswordHash('ALICE@example.com', 'new');
    assert.equal((await store.getAccount(ALICE))!.passwordHash, 'new');
  });
});

test('a change that fails leaves the accounts as they were', async () => {
  await withStore(async (store) => {
    await store.addDomain('example.com');
    await rejectsWith(store.addDomain('example.com'), 'exists');
    await store.addDomain('b.example');
    assert.deepEqual(await store.listDomains(), ['b.example', 'example.com']);
  });
});

// --- Delivery -------------------------------------------------------------------------------------------

test('a delivered message is listed with its exact size and read back byte for byte', async () => {
  await withStore(async (store) => {
    const key = { queueId: 'Q1', recipient: ALICE };
    const outcome = await store.deliver(ALICE, key, body('Subject: hi\r\n', '\r\n', 'Hello Alice.\r\n'));
    assert.deepEqual(outcome, { uidl: deliveryUidl(key), duplicate: false });
    const [message, ...rest] = await store.listMessages(ALICE);
    assert.deepEqual(rest, []);
    assert.equal(message!.uidl, outcome.uidl);
    assert.equal(message!.size, Buffer.byteLength(MESSAGE));
    assert.equal(await readAll(store.readMessage(ALICE, outcome.uidl)), MESSAGE);
  });
});

test('sizes count bytes, not characters', async () => {
  await withStore(async (store) => {
    const text = 'Subject: café\r\n\r\n日本語\r\n';
    const { uidl } = await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, body(text));
    const [message] = await store.listMessages(ALICE);
    assert.equal(message!.size, Buffer.byteLength(text, 'utf8'));
    assert.equal(await readAll(store.readMessage(ALICE, uidl)), text);
  });
});

test('delivering the same (queue id, recipient) twice stores one copy', async () => {
  await withStore(async (store) => {
    const key = { queueId: 'Q1', recipient: ALICE };
    const first = await store.deliver(ALICE, key, body(MESSAGE));
    const second = await store.deliver(ALICE, { queueId: 'Q1', recipient: 'ALICE@example.com' }, body('a different body\r\n'));
    assert.deepEqual(second, { uidl: first.uidl, duplicate: true });
    assert.equal((await store.listMessages(ALICE)).length, 1);
    assert.equal(await readAll(store.readMessage(ALICE, first.uidl)), MESSAGE);
  });
});

test('concurrent identical deliveries store one copy', async () => {
  await withStore(async (store, dir) => {
    const key = { queueId: 'Q1', recipient: ALICE };
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => store.deliver(ALICE, key, body(MESSAGE))));
    assert.equal(outcomes.filter((o) => !o.duplicate).length, 1);
    assert.equal(new Set(outcomes.map((o) => o.uidl)).size, 1);
    assert.equal((await store.listMessages(ALICE)).length, 1);
    const mailbox = join(dir, 'mailboxes', encodeURIComponent(ALICE));
    assert.equal((await readdir(join(mailbox, 'cur'))).length, 1);
    assert.deepEqual(await readdir(join(mailbox, 'tmp')), []);
  });
});

test('different queue ids or recipients are different messages', async () => {
  await withStore(async (store) => {
    await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, body('one\r\n'));
    await store.deliver(ALICE, { queueId: 'Q2', recipient: ALICE }, body('two\r\n'));
    await store.deliver(ALICE, { queueId: 'Q1', recipient: 'postmaster@example.com' }, body('three\r\n'));
    const messages = await store.listMessages(ALICE);
    assert.equal(messages.length, 3);
    assert.equal(new Set(messages.map((m) => m.uidl)).size, 3);
  });
});

test('mailbox names are case-insensitive', async () => {
  await withStore(async (store) => {
    const { uidl } = await store.deliver('Alice@Example.COM', { queueId: 'Q1', recipient: ALICE }, body(MESSAGE));
    assert.deepEqual((await store.listMessages(ALICE)).map((m) => m.uidl), [uidl]);
    assert.equal(await readAll(store.readMessage('ALICE@EXAMPLE.COM', uidl)), MESSAGE);
  });
});

test('unique ids are POP3-safe (RFC 1939: 1 to 70 characters in 0x21-0x7E)', async () => {
  await withStore(async (store) => {
    const { uidl } = await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, body(MESSAGE));
    assert.match(uidl, /^[\x21-\x7e]{1,70}$/);
  });
});

test('messages are listed in arrival order', async () => {
  await withStore(async (store) => {
    const uidls: string[] = [];
    for (const queueId of ['Q3', 'Q1', 'Q2']) {
      uidls.push((await store.deliver(ALICE, { queueId, recipient: ALICE }, body(`${queueId}\r\n`))).uidl);
      await sleep(2);
    }
    assert.deepEqual((await store.listMessages(ALICE)).map((m) => m.uidl), uidls);
  });
});

test('a message over the size limit fails with "too-large" and leaves nothing behind', async () => {
  await withStore(async (store, dir) => {
    const big = 'x'.repeat(MAX_BYTES + 1);
    await rejectsWith(store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, body(big)), 'too-large');
    assert.deepEqual(await store.listMessages(ALICE), []);
    assert.deepEqual(await readdir(join(dir, 'mailboxes', encodeURIComponent(ALICE), 'tmp')), []);
    // Not marked as delivered: a later, smaller attempt with the same key is stored.
    assert.equal((await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, body(MESSAGE))).duplicate, false);
  });
});

test('an empty mailbox lists nothing', async () => {
  await withStore(async (store) => {
    assert.deepEqual(await store.listMessages('nobody@example.com'), []);
  });
});

test('reading an unknown message fails with "not-found"', async () => {
  await withStore(async (store) => {
    await rejectsWith(readAll(store.readMessage(ALICE, 'no-such-uidl')), 'not-found');
  });
});

test('deleteMessages removes the named messages and ignores unknown ones', async () => {
  await withStore(async (store, dir) => {
    const one = await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, body('one\r\n'));
    const two = await store.deliver(ALICE, { queueId: 'Q2', recipient: ALICE }, body('two\r\n'));
    assert.equal(await store.deleteMessages(ALICE, [one.uidl, 'unknown']), 1);
    assert.deepEqual((await store.listMessages(ALICE)).map((m) => m.uidl), [two.uidl]);
    await rejectsWith(readAll(store.readMessage(ALICE, one.uidl)), 'not-found');
    assert.equal((await readdir(join(dir, 'mailboxes', encodeURIComponent(ALICE), 'cur'))).length, 1);
    assert.equal(await store.deleteMessages(ALICE, [one.uidl]), 0);
  });
});

// --- Durability -----------------------------------------------------------------------------------------

test('a store reopened from the same directory has the same accounts and messages', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'embedded-store-test-'));
  try {
    const first = await EmbeddedStore.open(dir, MAX_BYTES);
    await first.addDomain('example.com');
    await first.addAccount({ address: ALICE, passwordHash: 'hash-a' });
    const kept = await first.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, body(MESSAGE));
    const deleted = await first.deliver(ALICE, { queueId: 'Q2', recipient: ALICE }, body('gone\r\n'));
    await first.deleteMessages(ALICE, [deleted.uidl]);
    const before = await first.listMessages(ALICE);
    await first.close();

    const second = await EmbeddedStore.open(dir, MAX_BYTES);
    assert.deepEqual(await second.listDomains(), ['example.com']);
    assert.deepEqual(await second.getAccount(ALICE), { address: ALICE, passwordHash: 'hash-a' });
    assert.deepEqual(await second.listMessages(ALICE), before);
    assert.equal(await readAll(second.readMessage(ALICE, kept.uidl)), MESSAGE);
    // Idempotency survives the restart.
    assert.equal((await second.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, body(MESSAGE))).duplicate, true);
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
    assert.deepEqual(await readdir(join(dir, 'mailboxes', encodeURIComponent(ALICE))), ['cur']);
    assert.deepEqual((await readdir(dir)).sort(), ['mailboxes']);
    // The interrupted delivery was never acknowledged; its retry is stored.
    assert.equal((await second.deliver(ALICE, key, body(MESSAGE))).duplicate, false);
    assert.equal((await second.listMessages(ALICE)).length, 2);
    await second.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// --- Leases ---------------------------------------------------------------------------------------------

test('a lease is exclusive until released', async () => {
  await withStore(async (store) => {
    const lease = await store.acquireLease(ALICE, 60_000);
    assert.ok(lease);
    assert.equal(await store.hasLease(ALICE, lease), true);
    assert.equal(await store.acquireLease('ALICE@example.com', 60_000), undefined);
    await store.releaseLease(ALICE, lease);
    assert.equal(await store.hasLease(ALICE, lease), false);
    const next = await store.acquireLease(ALICE, 60_000);
    assert.ok(next);
    assert.notEqual(next, lease);
  });
});

test('a lease on one mailbox does not lock another', async () => {
  await withStore(async (store) => {
    assert.ok(await store.acquireLease(ALICE, 60_000));
    assert.ok(await store.acquireLease('bob@example.com', 60_000));
  });
});

test('releasing with a stale lease id does not release the current holder', async () => {
  await withStore(async (store) => {
    const lease = await store.acquireLease(ALICE, 60_000);
    await store.releaseLease(ALICE, 'not-the-lease');
    assert.equal(await store.hasLease(ALICE, lease!), true);
    assert.equal(await store.acquireLease(ALICE, 60_000), undefined);
  });
});

test('a lease that is not renewed expires and another session can take the maildrop', async () => {
  await withStore(async (store) => {
    const stale = await store.acquireLease(ALICE, 30);
    await sleep(60);
    assert.equal(await store.hasLease(ALICE, stale!), false);
    const fresh = await store.acquireLease(ALICE, 60_000);
    assert.ok(fresh);
    // The old holder cannot get it back.
    assert.equal(await store.renewLease(ALICE, stale!, 60_000), false);
    assert.equal(await store.hasLease(ALICE, fresh), true);
  });
});

test('a renewed lease outlives its first term', async () => {
  await withStore(async (store) => {
    const lease = await store.acquireLease(ALICE, 80);
    await sleep(40);
    assert.equal(await store.renewLease(ALICE, lease!, 60_000), true);
    await sleep(60);
    assert.equal(await store.hasLease(ALICE, lease!), true);
    assert.equal(await store.acquireLease(ALICE, 60_000), undefined);
  });
});
