// Authenticate under the failed-login throttle (per client address and per account, kept by the store):
// growing delay, lock without any password check, same answers for unknown and existing accounts, and a
// success that clears the account's failures but not the address's. A moved clock stands in for time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AuthenticateReply, MailboxStoreServer } from '@mail/contracts';
import { hashPassword } from './passwords.js';
import { createMailboxService } from './service.js';
import { EmbeddedStore } from './store/embedded-store.js';
import { authenticateThrough } from './store/store-conformance.js';
import type { MailStore } from './store/types.js';

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const RIGHT = 'right password';
const THROTTLE = { maxFailures: 3, windowMs: 60_000, lockMs: 10_000, baseDelayMs: 100, maxDelayMs: 1_000 };
const quietLogger = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;

interface Harness {
  service: MailboxStoreServer;
  login(address: string, password: string, clientAddress?: string): Promise<AuthenticateReply>;
  /** How many times the service read an account (a password check starts with one). */
  accountReads(): number;
  advance(ms: number): void;
}

async function withService(work: (harness: Harness) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'service-auth-test-'));
  const store = await EmbeddedStore.open(dir, 1024 * 1024);
  await store.addDomain('example.test');
  for (const address of [ALICE, BOB]) await store.addAccount({ address, passwordHash: await hashPassword(RIGHT) });
  let reads = 0;
  const counting = new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'getAccount') return (address: string) => (reads++, target.getAccount(address));
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as MailStore;
  let clock = 1_000_000;
  const service = createMailboxService(counting, quietLogger, { maxLeaseSeconds: 60, authThrottle: THROTTLE, now: () => clock });
  try {
    await work({
      service,
      login: (address, password, clientAddress = '203.0.113.7') => authenticateThrough(service, { address, password, clientAddress, service: 'test' }),
      accountReads: () => reads,
      advance: (ms) => void (clock += ms),
    });
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const summary = (reply: AuthenticateReply) => ({ ok: reply.ok, locked: reply.locked, failures: reply.failures, delayMs: reply.delayMs });

test('the right password is accepted with the mailbox, and nothing to wait', async () => {
  await withService(async ({ login }) => {
    assert.deepEqual(await login(ALICE.toUpperCase(), RIGHT), { ok: true, mailbox: ALICE, locked: false, failures: 0, delayMs: 0 });
  });
});

test('each wrong password is answered with a doubling delay; the third locks even the right password', async () => {
  await withService(async ({ login }) => {
    const failures = [];
    for (let i = 0; i < 3; i++) failures.push(summary(await login(ALICE, `guess-${i}`)));
    assert.deepEqual(failures, [
      { ok: false, locked: false, failures: 1, delayMs: 100 },
      { ok: false, locked: false, failures: 2, delayMs: 200 },
      { ok: false, locked: false, failures: 3, delayMs: 400 },
    ]);
    assert.deepEqual(await login(ALICE, RIGHT), { ok: false, mailbox: '', locked: true, failures: 3, delayMs: 0 });
  });
});

test('while locked the password is not even checked (no account read, no scrypt)', async () => {
  await withService(async ({ login, accountReads }) => {
    for (let i = 0; i < 3; i++) await login(ALICE, `guess-${i}`);
    const before = accountReads();
    const started = performance.now();
    for (let i = 0; i < 5; i++) assert.equal((await login(ALICE, RIGHT)).locked, true);
    assert.equal(accountReads(), before);
    assert.ok(performance.now() - started < 100, 'five scrypt checks would take longer');
  });
});

test('an unknown account gets exactly the answers an existing one gets, lock included (no enumeration)', async () => {
  await withService(async ({ login }) => {
    const run = async (user: string, clientAddress: string) => {
      const replies = [];
      for (let i = 0; i < 4; i++) replies.push(await login(user, `guess-${i}`, clientAddress));
      replies.push(await login(user, RIGHT, clientAddress));
      return replies;
    };
    const existing = await run(ALICE, '198.51.100.1');
    const unknown = await run('nobody@example.test', '198.51.100.2');
    assert.deepEqual(unknown.slice(0, 4), existing.slice(0, 4));
    assert.deepEqual(unknown[4], existing[4]);
    assert.equal(existing[3]!.locked, true);
  });
});

test('the lock ends after AUTH_LOCK_MS; failures leave the count after the window', async () => {
  await withService(async ({ login, advance }) => {
    for (let i = 0; i < 3; i++) await login(ALICE, `guess-${i}`);
    advance(9_999);
    assert.equal((await login(ALICE, RIGHT)).locked, true);
    advance(1);
    assert.equal((await login(ALICE, RIGHT)).ok, true);
    // The address still has its three failures in the window: one more locks it again at once.
    assert.deepEqual(summary(await login(BOB, 'guess')), { ok: false, locked: false, failures: 4, delayMs: 800 });
    assert.equal((await login(BOB, RIGHT)).locked, true);
    advance(60_000);
    assert.deepEqual(summary(await login(BOB, 'guess')), { ok: false, locked: false, failures: 1, delayMs: 100 });
  });
});

test('a success clears the account\'s failures but not the address\'s', async () => {
  await withService(async ({ login }) => {
    await login(ALICE, 'guess-1');
    await login(ALICE, 'guess-2');
    assert.equal((await login(ALICE, RIGHT)).ok, true);
    // Alice starts again from one, from another address...
    assert.equal((await login(ALICE, 'guess-3', '198.51.100.9')).failures, 1);
    // ...but the first address had two failures before the success: one more (on Bob) locks it, for everyone.
    assert.equal((await login(BOB, 'guess', '203.0.113.7')).failures, 3);
    assert.equal((await login(ALICE, RIGHT, '203.0.113.7')).locked, true);
    assert.equal((await login(ALICE, RIGHT, '198.51.100.10')).ok, true, 'Alice from elsewhere is not locked');
  });
});

test('guesses on many accounts from one address lock that address, not the accounts elsewhere', async () => {
  await withService(async ({ login }) => {
    for (const user of ['a@example.test', 'b@example.test', 'c@example.test']) assert.equal((await login(user, 'guess')).locked, false);
    assert.equal((await login(ALICE, RIGHT)).locked, true);
    assert.equal((await login(ALICE, RIGHT, '198.51.100.1')).ok, true);
  });
});

test('a request without a client address (an older client) is throttled per account only', async () => {
  await withService(async ({ login }) => {
    for (let i = 0; i < 3; i++) await login(ALICE, `guess-${i}`, '');
    assert.equal((await login(ALICE, RIGHT, '')).locked, true);
    assert.equal((await login(BOB, RIGHT, '')).ok, true);
  });
});
