// The storage conformance suite: the behaviour every MailStore backend owes the service, defined once
// and run unchanged against each backend (embedded-store.test.ts, mongo-store.test.ts).
// A backend passes a factory of fixtures: each fixture is one fresh, empty storage area, and every
// open() gives another store over it (a restart, or, for shared backends, one more replica).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { AuthenticateReply, AuthenticateRequest, MailboxStoreServer } from '@mail/contracts';
import { grpc } from '@mail/platform';
import { isAuthLocked, type AuthThrottleSettings } from '../auth-throttle.js';
import { hashPassword } from '../passwords.js';
import { createMailboxService } from '../service.js';
import { deliveryUidl, StoreError, type MailStore } from './types.js';

export interface StoreFixture {
  open(): Promise<MailStore>;
  /** Removes the storage area (the stores opened over it are closed by the suite). */
  destroy(): Promise<void>;
}

export interface StoreBackend {
  name: string;
  create(options: { maxMessageBytes: number }): Promise<StoreFixture>;
  /** Several stores open over one storage area at once act as replicas (shared leases and deliveries). */
  sharedReplicas: boolean;
}

export const CONFORMANCE_MAX_BYTES = 2 * 1024 * 1024;

export async function* bodyOf(...parts: Array<string | Uint8Array>): AsyncIterable<Uint8Array> {
  for (const part of parts) yield typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
}

export async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const readText = async (stream: AsyncIterable<Uint8Array>) => (await readAll(stream)).toString('utf8');

/** Asserts that `promise` rejects with a StoreError of `kind`. */
export async function rejectsWith(promise: Promise<unknown>, kind: StoreError['kind']): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof StoreError && err.kind === kind);
}

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const MESSAGE = 'Subject: hi\r\n\r\nHello Alice.\r\n';
const IP = 'ip:203.0.113.7';
const ACCOUNT = 'account:alice@example.com';
const quietLogger = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;

/** Calls one of the service's unary handlers the way the gRPC server does. */
export function callThrough<Req, Res>(handler: grpc.handleUnaryCall<Req, Res>, request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    handler({ request } as grpc.ServerUnaryCall<Req, Res>, (err, reply) => (err ? reject(err) : resolve(reply!)));
  });
}

/** Calls the service's Authenticate the way the gRPC server does. */
export const authenticateThrough = (service: MailboxStoreServer, request: Partial<AuthenticateRequest>): Promise<AuthenticateReply> =>
  callThrough(service.authenticate, { address: '', password: '', clientAddress: '', service: 'test', ...request });

export function defineStoreConformance(backend: StoreBackend): void {
  /** Runs `work` with one store (more with `open`) over a fresh storage area, then cleans up. */
  async function withStores(
    work: (store: MailStore, open: () => Promise<MailStore>) => Promise<void>,
    maxMessageBytes = CONFORMANCE_MAX_BYTES,
  ): Promise<void> {
    const fixture = await backend.create({ maxMessageBytes });
    const opened: MailStore[] = [];
    const open = async () => {
      const store = await fixture.open();
      opened.push(store);
      return store;
    };
    try {
      await work(await open(), open);
    } finally {
      for (const store of opened) await store.close().catch(() => undefined);
      await fixture.destroy();
    }
  }
  const withStore = (work: (store: MailStore) => Promise<void>) => withStores((store) => work(store));
  const replicasOnly = backend.sharedReplicas ? false : `${backend.name} runs as a single process`;

  describe(`MailStore conformance: ${backend.name}`, () => {
    // --- Domains and accounts ---------------------------------------------------------------------------

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

    test('removing a domain that still has accounts fails with "invalid" and keeps it usable', async () => {
      await withStore(async (store) => {
        await store.addDomain('example.com');
        await store.addAccount({ address: ALICE, passwordHash: 'h' });
        await rejectsWith(store.removeDomain('example.com'), 'invalid');
        assert.deepEqual(await store.listDomains(), ['example.com']);
        await store.addAccount({ address: 'bob@example.com', passwordHash: 'h' });
      });
    });

    test('a domain\'s postmaster is named, renamed, claimed only if unnamed, and forgotten with the domain', async () => {
      await withStore(async (store) => {
        await store.addDomain('example.com');
        await store.addDomain('b.example');
        assert.deepEqual(await store.domainPostmasters(), new Map());
        assert.equal(await store.setDomainPostmaster('example.com', 'Alice@Example.com', true), true);
        assert.equal(await store.setDomainPostmaster('example.com', 'bob@example.com', true), false, 'already named');
        assert.deepEqual(await store.domainPostmasters(), new Map([['example.com', ALICE]]));
        assert.equal(await store.setDomainPostmaster('EXAMPLE.com', 'bob@example.com'), true);
        assert.deepEqual(await store.domainPostmasters(), new Map([['example.com', 'bob@example.com']]));
        await rejectsWith(store.setDomainPostmaster('other.example', ALICE), 'not-found');
        await rejectsWith(store.setDomainPostmaster('other.example', ALICE, true), 'not-found');
        await store.removeDomain('example.com');
        assert.deepEqual(await store.domainPostmasters(), new Map());
      });
    });

    test('DKIM keys: added per domain and selector, listed oldest first, removed, and gone with their domain', async () => {
      await withStore(async (store) => {
        await store.addDomain('example.com');
        await store.addDomain('b.example');
        const key = (domain: string, selector: string, createdAtMs: number) =>
          ({ domain, selector, algorithm: 'ed25519-sha256', privateKeyPem: `PEM ${selector}`, createdAtMs }) as const;
        await store.addDkimKey(key('Example.com', 'sel2', 2));
        await store.addDkimKey(key('example.com', 'sel1', 1));
        await store.addDkimKey(key('b.example', 'sel1', 3));
        await rejectsWith(store.addDkimKey(key('example.com', 'sel1', 4)), 'exists');
        await rejectsWith(store.addDkimKey(key('other.example', 'sel1', 5)), 'not-found');
        assert.deepEqual((await store.listDkimKeys('EXAMPLE.com')).map((k) => `${k.domain}/${k.selector}/${k.privateKeyPem}`), ['example.com/sel1/PEM sel1', 'example.com/sel2/PEM sel2']);
        assert.deepEqual((await store.listDkimKeys()).map((k) => `${k.domain}/${k.selector}`), ['example.com/sel1', 'example.com/sel2', 'b.example/sel1']);
        await store.removeDkimKey('example.com', 'sel2');
        await rejectsWith(store.removeDkimKey('example.com', 'sel2'), 'not-found');
        assert.deepEqual((await store.listDkimKeys('example.com')).map((k) => k.selector), ['sel1']);
        await store.removeDomain('example.com');
        assert.deepEqual((await store.listDkimKeys()).map((k) => `${k.domain}/${k.selector}`), ['b.example/sel1']);
        await store.addDomain('example.com');
        assert.deepEqual(await store.listDkimKeys('example.com'), [], 'a domain added again starts with no keys');
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
        assert.equal(await store.getAccount(ALICE), undefined);
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

    test('setPasswordHash replaces the stored hash, kept as given (a scrypt string)', async () => {
      await withStore(async (store) => {
        const hash = 'scrypt$16384$8$1$c2FsdA$a2V5';
        await store.addDomain('example.com');
        await store.addAccount({ address: ALICE, passwordHash: 'old' });
        await store.setPasswordHash('ALICE@example.com', hash);
        assert.equal((await store.getAccount(ALICE))!.passwordHash, hash);
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

    // --- Delivery ---------------------------------------------------------------------------------------

    test('a delivered message is listed with its exact size and read back byte for byte', async () => {
      await withStore(async (store) => {
        const key = { queueId: 'Q1', recipient: ALICE };
        const outcome = await store.deliver(ALICE, key, bodyOf('Subject: hi\r\n', '\r\n', 'Hello Alice.\r\n'));
        assert.deepEqual(outcome, { uidl: deliveryUidl(key), duplicate: false });
        const [message, ...rest] = await store.listMessages(ALICE);
        assert.deepEqual(rest, []);
        assert.equal(message!.uidl, outcome.uidl);
        assert.equal(message!.size, Buffer.byteLength(MESSAGE));
        assert.ok(Math.abs(message!.receivedAtMs - Date.now()) < 60_000);
        assert.equal(await readText(store.readMessage(ALICE, outcome.uidl)), MESSAGE);
      });
    });

    test('sizes count bytes, not characters', async () => {
      await withStore(async (store) => {
        const text = 'Subject: café\r\n\r\n日本語\r\n';
        const { uidl } = await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf(text));
        const [message] = await store.listMessages(ALICE);
        assert.equal(message!.size, Buffer.byteLength(text, 'utf8'));
        assert.equal(await readText(store.readMessage(ALICE, uidl)), text);
      });
    });

    test('an empty message is stored and read back empty', async () => {
      await withStore(async (store) => {
        const { uidl } = await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf());
        assert.equal((await store.listMessages(ALICE))[0]!.size, 0);
        assert.equal((await readAll(store.readMessage(ALICE, uidl))).length, 0);
      });
    });

    test('a large binary message is streamed in and out in pieces, byte for byte', async () => {
      await withStore(async (store) => {
        const data = randomBytes(1_500_000);
        const pieces = Array.from({ length: Math.ceil(data.length / 65_536) }, (_, i) => data.subarray(i * 65_536, (i + 1) * 65_536));
        const { uidl } = await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf(...pieces));
        assert.equal((await store.listMessages(ALICE))[0]!.size, data.length);
        let chunks = 0;
        let largest = 0;
        const received: Buffer[] = [];
        for await (const chunk of store.readMessage(ALICE, uidl)) {
          chunks++;
          largest = Math.max(largest, chunk.byteLength);
          received.push(Buffer.from(chunk));
        }
        assert.ok(Buffer.concat(received).equals(data));
        assert.ok(chunks > 1 && largest <= 1024 * 1024, `read in ${chunks} chunks, the largest ${largest} bytes`);
      });
    });

    test('a reader that stops early does not disturb the message', async () => {
      await withStore(async (store) => {
        const data = randomBytes(600_000);
        const { uidl } = await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf(data));
        for await (const _ of store.readMessage(ALICE, uidl)) break;
        assert.ok((await readAll(store.readMessage(ALICE, uidl))).equals(data));
      });
    });

    test('delivering the same (queue id, recipient) twice stores one copy', async () => {
      await withStore(async (store) => {
        const key = { queueId: 'Q1', recipient: ALICE };
        const first = await store.deliver(ALICE, key, bodyOf(MESSAGE));
        const second = await store.deliver(ALICE, { queueId: 'Q1', recipient: 'ALICE@example.com' }, bodyOf('a different body\r\n'));
        assert.deepEqual(second, { uidl: first.uidl, duplicate: true });
        assert.equal((await store.listMessages(ALICE)).length, 1);
        assert.equal(await readText(store.readMessage(ALICE, first.uidl)), MESSAGE);
      });
    });

    test('a delivery repeated after the user deleted the message is still a duplicate, not a second copy', async () => {
      await withStore(async (store) => {
        const key = { queueId: 'Q1', recipient: ALICE };
        const first = await store.deliver(ALICE, key, bodyOf(MESSAGE));
        assert.equal(await store.deleteMessages(ALICE, [first.uidl]), 1);
        const again = await store.deliver(ALICE, key, bodyOf(MESSAGE));
        assert.deepEqual(again, { uidl: first.uidl, duplicate: true });
        assert.deepEqual(await store.listMessages(ALICE), [], 'the deleted message does not come back');
        assert.equal(await store.deleteMessages(ALICE, [first.uidl]), 0, 'and cannot be deleted twice');
        assert.equal((await store.deliver(ALICE, { queueId: 'Q2', recipient: ALICE }, bodyOf(MESSAGE))).duplicate, false, 'other deliveries are not affected');
      });
    });

    test('concurrent identical deliveries store one copy', async () => {
      await withStore(async (store) => {
        const key = { queueId: 'Q1', recipient: ALICE };
        const outcomes = await Promise.all(Array.from({ length: 5 }, () => store.deliver(ALICE, key, bodyOf(MESSAGE))));
        assert.equal(outcomes.filter((o) => !o.duplicate).length, 1);
        assert.equal(new Set(outcomes.map((o) => o.uidl)).size, 1);
        assert.equal((await store.listMessages(ALICE)).length, 1);
        assert.equal(await readText(store.readMessage(ALICE, outcomes[0]!.uidl)), MESSAGE);
      });
    });

    test('different queue ids or recipients are different messages', async () => {
      await withStore(async (store) => {
        await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf('one\r\n'));
        await store.deliver(ALICE, { queueId: 'Q2', recipient: ALICE }, bodyOf('two\r\n'));
        await store.deliver(ALICE, { queueId: 'Q1', recipient: 'postmaster@example.com' }, bodyOf('three\r\n'));
        const messages = await store.listMessages(ALICE);
        assert.equal(messages.length, 3);
        assert.equal(new Set(messages.map((m) => m.uidl)).size, 3);
      });
    });

    test('mailbox names are case-insensitive', async () => {
      await withStore(async (store) => {
        const { uidl } = await store.deliver('Alice@Example.COM', { queueId: 'Q1', recipient: ALICE }, bodyOf(MESSAGE));
        assert.deepEqual((await store.listMessages(ALICE)).map((m) => m.uidl), [uidl]);
        assert.equal(await readText(store.readMessage('ALICE@EXAMPLE.COM', uidl)), MESSAGE);
      });
    });

    test('mailboxes are separate', async () => {
      await withStore(async (store) => {
        const { uidl } = await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf(MESSAGE));
        assert.deepEqual(await store.listMessages('bob@example.com'), []);
        await rejectsWith(readAll(store.readMessage('bob@example.com', uidl)), 'not-found');
        assert.equal(await store.deleteMessages('bob@example.com', [uidl]), 0);
        assert.equal((await store.listMessages(ALICE)).length, 1);
      });
    });

    test('unique ids are POP3-safe (RFC 1939: 1 to 70 characters in 0x21-0x7E)', async () => {
      await withStore(async (store) => {
        const { uidl } = await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf(MESSAGE));
        assert.match(uidl, /^[\x21-\x7e]{1,70}$/);
      });
    });

    test('messages are listed in arrival order', async () => {
      await withStore(async (store) => {
        const uidls: string[] = [];
        for (const queueId of ['Q3', 'Q1', 'Q2']) {
          uidls.push((await store.deliver(ALICE, { queueId, recipient: ALICE }, bodyOf(`${queueId}\r\n`))).uidl);
          await sleep(2);
        }
        assert.deepEqual((await store.listMessages(ALICE)).map((m) => m.uidl), uidls);
      });
    });

    test('a message over the size limit fails with "too-large" and is not stored', async () => {
      const limit = 300 * 1024;
      await withStores(async (store) => {
        const big = randomBytes(limit + 1);
        const halves = [big.subarray(0, limit / 2), big.subarray(limit / 2)];
        await rejectsWith(store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf(...halves)), 'too-large');
        assert.deepEqual(await store.listMessages(ALICE), []);
        // Not marked as delivered: a later, smaller attempt with the same key is stored.
        assert.equal((await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf(MESSAGE))).duplicate, false);
        // Exactly at the limit is accepted.
        await store.deliver(ALICE, { queueId: 'Q2', recipient: ALICE }, bodyOf(big.subarray(0, limit)));
        assert.equal((await store.listMessages(ALICE)).length, 2);
      }, limit);
    });

    test('a body that fails while being received is not stored', async () => {
      await withStore(async (store) => {
        async function* broken(): AsyncIterable<Uint8Array> {
          yield randomBytes(400_000);
          throw new Error('client went away');
        }
        await assert.rejects(store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, broken()), /client went away/);
        assert.deepEqual(await store.listMessages(ALICE), []);
        assert.equal((await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf(MESSAGE))).duplicate, false);
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

    test('deleteMessages removes the named messages, large or small, and ignores unknown ones', async () => {
      await withStore(async (store) => {
        const one = await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf('one\r\n'));
        const two = await store.deliver(ALICE, { queueId: 'Q2', recipient: ALICE }, bodyOf('two\r\n'));
        const big = await store.deliver(ALICE, { queueId: 'Q3', recipient: ALICE }, bodyOf(randomBytes(700_000)));
        assert.equal(await store.deleteMessages(ALICE, [one.uidl, big.uidl, 'unknown']), 2);
        assert.deepEqual((await store.listMessages(ALICE)).map((m) => m.uidl), [two.uidl]);
        await rejectsWith(readAll(store.readMessage(ALICE, one.uidl)), 'not-found');
        await rejectsWith(readAll(store.readMessage(ALICE, big.uidl)), 'not-found');
        assert.equal(await store.deleteMessages(ALICE, [one.uidl]), 0);
      });
    });

    test('a deleted message delivered again is stored again (a new queue id is a new message)', async () => {
      await withStore(async (store) => {
        const first = await store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf(MESSAGE));
        await store.deleteMessages(ALICE, [first.uidl]);
        const again = await store.deliver(ALICE, { queueId: 'Q2', recipient: ALICE }, bodyOf(MESSAGE));
        assert.equal(again.duplicate, false);
        assert.deepEqual((await store.listMessages(ALICE)).map((m) => m.uidl), [again.uidl]);
      });
    });

    // --- Durability -------------------------------------------------------------------------------------

    test('a store reopened over the same storage has the same accounts and messages', async () => {
      await withStores(async (first, open) => {
        await first.addDomain('example.com');
        await first.addAccount({ address: ALICE, passwordHash: 'hash-a' });
        const kept = await first.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf(MESSAGE));
        const deleted = await first.deliver(ALICE, { queueId: 'Q2', recipient: ALICE }, bodyOf('gone\r\n'));
        await first.deleteMessages(ALICE, [deleted.uidl]);
        const before = await first.listMessages(ALICE);
        await first.close();

        const second = await open();
        assert.deepEqual(await second.listDomains(), ['example.com']);
        assert.deepEqual(await second.getAccount(ALICE), { address: ALICE, passwordHash: 'hash-a' });
        assert.deepEqual(await second.listMessages(ALICE), before);
        assert.equal(await readText(second.readMessage(ALICE, kept.uidl)), MESSAGE);
        // Idempotency survives the restart.
        assert.equal((await second.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf(MESSAGE))).duplicate, true);
      });
    });

    test('a maildrop lease held when the store stops is still held after it restarts', async () => {
      await withStores(async (first, open) => {
        const lease = (await first.acquireLease(ALICE, 60_000))!;
        const released = (await first.acquireLease(BOB, 60_000))!;
        await first.releaseLease(BOB, released);
        await first.close();

        const second = await open();
        assert.equal(await second.hasLease(ALICE, lease), true, 'the POP3 session keeps its maildrop');
        assert.equal(await second.acquireLease(ALICE, 60_000), undefined, 'a second session is refused');
        assert.ok(await second.acquireLease(BOB, 60_000), 'a released lease stays released');
      });
    });

    // --- Leases -----------------------------------------------------------------------------------------

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
        const lease = await store.acquireLease(ALICE, 300);
        await sleep(150);
        assert.equal(await store.renewLease(ALICE, lease!, 60_000), true);
        await sleep(250);
        assert.equal(await store.hasLease(ALICE, lease!), true);
        assert.equal(await store.acquireLease(ALICE, 60_000), undefined);
      });
    });

    test('concurrent acquires of one maildrop grant exactly one lease', async () => {
      await withStore(async (store) => {
        const leases = await Promise.all(Array.from({ length: 6 }, () => store.acquireLease(ALICE, 60_000)));
        assert.equal(leases.filter(Boolean).length, 1);
      });
    });

    // --- Failed-login records ---------------------------------------------------------------------------

    test('a key without failures has no record; failures are counted one by one', async () => {
      await withStore(async (store) => {
        assert.equal((await store.getAuthFailures([IP, ACCOUNT], 0)).size, 0);
        assert.deepEqual(await store.addAuthFailure(ACCOUNT, 10_000, 60_000), { failures: 1, lockedUntilMs: 0 });
        assert.deepEqual(await store.addAuthFailure(ACCOUNT, 20_000, 60_000), { failures: 2, lockedUntilMs: 0 });
        const records = await store.getAuthFailures([IP, ACCOUNT], 0);
        assert.deepEqual([...records.keys()], [ACCOUNT]);
        assert.deepEqual(records.get(ACCOUNT), { failures: 2, lockedUntilMs: 0 });
      });
    });

    test('failures count only inside their window (a sliding window)', async () => {
      await withStore(async (store) => {
        await store.addAuthFailure(ACCOUNT, 10_000, 60_000);
        await store.addAuthFailure(ACCOUNT, 40_000, 60_000);
        assert.deepEqual(await store.addAuthFailure(ACCOUNT, 70_000, 60_000), { failures: 2, lockedUntilMs: 0 }, 'the one at 10 000 has left the window');
        assert.deepEqual(await store.addAuthFailure(ACCOUNT, 100_001, 60_000), { failures: 2, lockedUntilMs: 0 }, 'so has the one at 40 000');
        assert.equal((await store.getAuthFailures([ACCOUNT], 69_999)).get(ACCOUNT)?.failures, 2);
        assert.equal((await store.getAuthFailures([ACCOUNT], 70_000)).get(ACCOUNT)?.failures, 1);
      });
    });

    test('a lock is kept until its end, is never shortened, and is reported with the failures', async () => {
      await withStore(async (store) => {
        await store.lockAuth(IP, 100_000);
        await store.lockAuth(IP, 50_000);
        assert.deepEqual((await store.getAuthFailures([IP], 0)).get(IP), { failures: 0, lockedUntilMs: 100_000 });
        const failed = await store.addAuthFailure(IP, 80_000, 60_000);
        assert.deepEqual(failed, { failures: 1, lockedUntilMs: 100_000 });
        assert.equal(isAuthLocked(failed, 99_999), true);
        await store.lockAuth(IP, 200_000);
        assert.equal((await store.getAuthFailures([IP], 0)).get(IP)?.lockedUntilMs, 200_000);
      });
    });

    test('clearing a key forgets its failures and lock, and only that key', async () => {
      await withStore(async (store) => {
        for (const key of [IP, ACCOUNT]) {
          await store.addAuthFailure(key, 10_000, 60_000);
          await store.lockAuth(key, 100_000);
        }
        await store.clearAuthFailures(ACCOUNT);
        await store.clearAuthFailures('account:nobody@example.com');
        assert.deepEqual([...(await store.getAuthFailures([IP, ACCOUNT], 0)).keys()], [IP]);
        assert.deepEqual(await store.addAuthFailure(ACCOUNT, 20_000, 60_000), { failures: 1, lockedUntilMs: 0 });
      });
    });

    test('a failure with a tag already counted in the window is not counted again; without a tag it always is', async () => {
      await withStore(async (store) => {
        assert.equal((await store.addAuthFailure(ACCOUNT, 10_000, 60_000, 'aaaa0000')).failures, 1);
        assert.equal((await store.addAuthFailure(ACCOUNT, 20_000, 60_000, 'aaaa0000')).failures, 1);
        assert.equal((await store.addAuthFailure(ACCOUNT, 30_000, 60_000, 'bbbb0000')).failures, 2);
        assert.equal((await store.addAuthFailure(IP, 30_000, 60_000, 'aaaa0000')).failures, 1, 'tags are per key');
        assert.equal((await store.addAuthFailure(ACCOUNT, 40_000, 60_000)).failures, 3);
        assert.equal((await store.addAuthFailure(ACCOUNT, 75_000, 60_000, 'aaaa0000')).failures, 3, 'the first one left the window: counted anew');
      });
    });

    test('the records listed are the keys with failures in the window or a lock still running', async () => {
      await withStore(async (store) => {
        await store.addAuthFailure('ip:old', 10_000, 60_000);
        await store.addAuthFailure(ACCOUNT, 50_000, 60_000);
        await store.lockAuth(IP, 200_000);
        await store.lockAuth('ip:unlocked', 90_000);
        const listed = await store.listAuthRecords(40_000, 100_000);
        assert.deepEqual(listed.sort((a, b) => a.key.localeCompare(b.key)), [
          { key: ACCOUNT, failures: 1, lockedUntilMs: 0 },
          { key: IP, failures: 0, lockedUntilMs: 200_000 },
        ]);
      });
    });

    test('pruning removes failures past their window and ended locks, and keeps the others', async () => {
      await withStore(async (store) => {
        await store.addAuthFailure('ip:old', 10_000, 60_000); // counts until 70 000
        await store.addAuthFailure('ip:locked', 10_000, 60_000);
        await store.lockAuth('ip:locked', 200_000);
        await store.addAuthFailure('ip:recent', 50_000, 60_000); // counts until 110 000
        assert.equal(await store.pruneAuthFailures(100_000), 2);
        const kept = await store.getAuthFailures(['ip:old', 'ip:locked', 'ip:recent'], 0);
        assert.deepEqual([...kept.keys()].sort(), ['ip:locked', 'ip:recent']);
        assert.deepEqual(kept.get('ip:locked'), { failures: 0, lockedUntilMs: 200_000 });
        assert.equal(await store.pruneAuthFailures(250_000), 2);
        assert.equal((await store.getAuthFailures(['ip:locked', 'ip:recent'], 0)).size, 0);
      });
    });

    test('concurrent failures of one key are all counted, and the last to count sees them all', async () => {
      await withStore(async (store) => {
        const records = await Promise.all(Array.from({ length: 12 }, () => store.addAuthFailure(ACCOUNT, 10_000, 60_000)));
        const counts = records.map((r) => r.failures);
        assert.equal(Math.max(...counts), 12);
        assert.ok(counts.every((n) => n >= 1 && n <= 12));
        assert.equal((await store.getAuthFailures([ACCOUNT], 0)).get(ACCOUNT)?.failures, 12);
      });
    });

    test('concurrent first locks of one key leave the latest end', async () => {
      await withStore(async (store) => {
        await Promise.all([100_000, 300_000, 200_000, 150_000].map((until) => store.lockAuth(ACCOUNT, until)));
        assert.equal((await store.getAuthFailures([ACCOUNT], 0)).get(ACCOUNT)?.lockedUntilMs, 300_000);
      });
    });

    // --- Several replicas over one storage ----------------------------------------------------------------

    test('two replicas: failures counted through both add up, and a lock set through one holds in the other', { skip: replicasOnly }, async () => {
      await withStores(async (one, open) => {
        const two = await open();
        const records = await Promise.all([one, two, one, two, one, two].map((store) => store.addAuthFailure(ACCOUNT, 10_000, 60_000)));
        assert.equal(Math.max(...records.map((r) => r.failures)), 6);
        assert.equal((await one.getAuthFailures([ACCOUNT], 0)).get(ACCOUNT)?.failures, 6);
        await one.lockAuth(ACCOUNT, 100_000);
        assert.equal(isAuthLocked((await two.getAuthFailures([ACCOUNT], 0)).get(ACCOUNT), 50_000), true);
        await two.clearAuthFailures(ACCOUNT);
        assert.equal((await one.getAuthFailures([ACCOUNT], 0)).size, 0);
      });
    });

    test('two replicas of the service: failed logins spread over both lock the login in both, unknown account or not', { skip: replicasOnly }, async () => {
      await withStores(async (one, open) => {
        const two = await open();
        await one.addDomain('example.com');
        await one.addAccount({ address: ALICE, passwordHash: await hashPassword('right') });
        const throttle: AuthThrottleSettings = { maxFailures: 4, windowMs: 60_000, lockMs: 60_000, baseDelayMs: 10, maxDelayMs: 1_000, addressMaxFailures: 0 };
        const options = { maxLeaseSeconds: 60, authThrottle: throttle };
        const replicas = [createMailboxService(one, quietLogger, options), createMailboxService(two, quietLogger, options)];
        for (const [n, user] of [ALICE, 'nobody@example.com'].entries()) {
          const clientAddress = `198.51.100.${n}`;
          const failures: AuthenticateReply[] = [];
          // Four guesses from one address, alternately on each replica: the shared count locks.
          for (let i = 0; i < 4; i++) failures.push(await authenticateThrough(replicas[i % 2]!, { address: user, password: `guess-${i}`, clientAddress }));
          assert.deepEqual(failures.map((r) => [r.ok, r.locked, r.failures, r.delayMs]), [
            [false, false, 1, 10],
            [false, false, 2, 20],
            [false, false, 3, 40],
            [false, false, 4, 80],
          ]);
          for (const replica of replicas) {
            const locked = await authenticateThrough(replica, { address: user, password: 'right', clientAddress });
            assert.deepEqual([locked.ok, locked.locked, locked.mailbox], [false, true, ''], `${user} is locked on every replica`);
          }
        }
      });
    });


    test('two replicas: concurrent identical deliveries store one copy', { skip: replicasOnly }, async () => {
      await withStores(async (one, open) => {
        const two = await open();
        const key = { queueId: 'Q1', recipient: ALICE };
        const big = randomBytes(400_000);
        const outcomes = await Promise.all([
          one.deliver(ALICE, key, bodyOf(big)),
          two.deliver(ALICE, key, bodyOf(big)),
          one.deliver(ALICE, key, bodyOf(big)),
          two.deliver(ALICE, key, bodyOf(big)),
        ]);
        assert.equal(outcomes.filter((o) => !o.duplicate).length, 1);
        for (const store of [one, two]) {
          assert.equal((await store.listMessages(ALICE)).length, 1);
          assert.ok((await readAll(store.readMessage(ALICE, outcomes[0]!.uidl))).equals(big));
        }
      });
    });

    test('two replicas: only one holds a maildrop lease at a time', { skip: replicasOnly }, async () => {
      await withStores(async (one, open) => {
        const two = await open();
        const [a, b] = await Promise.all([one.acquireLease(ALICE, 60_000), two.acquireLease(ALICE, 60_000)]);
        assert.equal([a, b].filter(Boolean).length, 1);
        const [holder, other, lease] = a ? [one, two, a] : [two, one, b!];
        assert.equal(await other.hasLease(ALICE, lease), true);
        assert.equal(await other.acquireLease(ALICE, 60_000), undefined);
        assert.equal(await other.renewLease(ALICE, 'someone-else', 60_000), false);
        await holder.releaseLease(ALICE, lease);
        assert.ok(await other.acquireLease(ALICE, 60_000));
      });
    });

    test('two replicas: an expired lease lets the other replica in', { skip: replicasOnly }, async () => {
      await withStores(async (one, open) => {
        const two = await open();
        const stale = await one.acquireLease(ALICE, 100);
        assert.ok(stale);
        assert.equal(await two.acquireLease(ALICE, 60_000), undefined);
        await sleep(150);
        const fresh = await two.acquireLease(ALICE, 60_000);
        assert.ok(fresh);
        assert.equal(await one.renewLease(ALICE, stale, 60_000), false);
        assert.equal(await one.hasLease(ALICE, fresh), true);
      });
    });

    test('two replicas: accounts, deliveries and deletions of one are seen by the other', { skip: replicasOnly }, async () => {
      await withStores(async (one, open) => {
        const two = await open();
        await one.addDomain('example.com');
        await one.addAccount({ address: ALICE, passwordHash: 'h' });
        assert.deepEqual(await two.getAccount(ALICE), { address: ALICE, passwordHash: 'h' });
        const { uidl } = await one.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf(MESSAGE));
        assert.equal((await two.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, bodyOf(MESSAGE))).duplicate, true);
        assert.equal(await two.deleteMessages(ALICE, [uidl]), 1);
        assert.deepEqual(await one.listMessages(ALICE), []);
      });
    });
  });
}
