// Authenticate under the failed-login throttle (kept by the store): a growing delay per login, per client
// address and per account; a lock of one account from one address without any password check; a right
// password never refused for other accounts' failures from its address; same answers for unknown and
// existing accounts; and the operator's view (records, unlock, password test). A moved clock stands in for time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AuthRecordKind, type AuthenticateReply, type MailboxStoreServer } from '@mail/contracts';
import type { AuthThrottleSettings } from './auth-throttle.js';
import { hashPassword } from './passwords.js';
import { createMailboxService } from './service.js';
import { EmbeddedStore } from './store/embedded-store.js';
import { authenticateThrough, callThrough } from './store/store-conformance.test-support.js';
import type { MailStore } from './store/types.js';

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const RIGHT = 'right password';
const THROTTLE = { maxFailures: 3, windowMs: 60_000, lockMs: 10_000, baseDelayMs: 100, maxDelayMs: 1_000, addressMaxFailures: 0 };
const quietLogger = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;

interface Harness {
  service: MailboxStoreServer;
  login(address: string, password: string, clientAddress?: string): Promise<AuthenticateReply>;
  /** How many times the service read an account (a password check starts with one). */
  accountReads(): number;
  /** The clock's value now. */
  now(): number;
  advance(ms: number): void;
}

async function withService(work: (harness: Harness) => Promise<void>, throttle: AuthThrottleSettings = THROTTLE): Promise<void> {
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
  const service = createMailboxService(counting, quietLogger, { maxLeaseSeconds: 60, authThrottle: throttle, now: () => clock });
  try {
    await work({
      service,
      login: (address, password, clientAddress = '203.0.113.7') => authenticateThrough(service, { address, password, clientAddress, service: 'test' }),
      accountReads: () => reads,
      now: () => clock,
      advance: (ms) => void (clock += ms),
    });
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const summary = (reply: AuthenticateReply) => ({ ok: reply.ok, locked: reply.locked, failures: reply.failures, delayMs: reply.delayMs });
const NAT = '203.0.113.7';

test('the right password is accepted with the mailbox, and nothing to wait', async () => {
  await withService(async ({ login }) => {
    assert.deepEqual(await login(ALICE.toUpperCase(), RIGHT), { ok: true, mailbox: ALICE, locked: false, failures: 0, delayMs: 0, retryAfterMs: 0 });
  });
});

test('each wrong password is answered with a doubling delay; the third locks the account from that address, saying for how long', async () => {
  await withService(async ({ login, advance }) => {
    const failures = [];
    for (let i = 0; i < 3; i++) failures.push(summary(await login(ALICE, `guess-${i}`)));
    assert.deepEqual(failures, [
      { ok: false, locked: false, failures: 1, delayMs: 100 },
      { ok: false, locked: false, failures: 2, delayMs: 200 },
      { ok: false, locked: false, failures: 3, delayMs: 400 },
    ]);
    advance(4_000);
    assert.deepEqual(await login(ALICE, RIGHT), { ok: false, mailbox: '', locked: true, failures: 3, delayMs: 0, retryAfterMs: 6_000 });
  });
});

test('while locked the password is not even checked (no account read, no scrypt)', async () => {
  await withService(async ({ login, accountReads }) => {
    for (let i = 0; i < 3; i++) await login(ALICE, `guess-${i}`);
    const before = accountReads();
    for (let i = 0; i < 5; i++) assert.equal((await login(ALICE, RIGHT)).locked, true);
    assert.equal(accountReads(), before);
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
    assert.deepEqual(unknown, existing);
    assert.equal(existing[3]!.locked, true);
  });
});

test('behind one NAT: a right password is accepted after another account\'s failures, and the guesser is still slowed and locked', async () => {
  await withService(async ({ login }) => {
    // A guesser behind the NAT tries Alice until locked, then sprays other accounts.
    for (let i = 0; i < 3; i++) await login(ALICE, `guess-${i}`, NAT);
    assert.equal((await login(ALICE, RIGHT, NAT)).locked, true, 'Alice from the NAT is locked');
    const spray = [];
    for (const user of ['a@example.test', 'b@example.test', 'c@example.test']) spray.push(summary(await login(user, 'guess', NAT)));
    assert.deepEqual(spray.map((r) => [r.locked, r.failures, r.delayMs]), [[false, 4, 800], [false, 5, 1_000], [false, 6, 1_000]], 'each failure from the address waits longer');
    // Bob, behind the same NAT, is let in at once; so is Alice from elsewhere.
    assert.deepEqual(await login(BOB, RIGHT, NAT), { ok: true, mailbox: BOB, locked: false, failures: 0, delayMs: 0, retryAfterMs: 0 });
    assert.equal((await login(ALICE, RIGHT, '198.51.100.1')).ok, true);
    // Bob mistyping from the NAT is delayed by the address's count, but not locked.
    assert.deepEqual(summary(await login(BOB, 'typo', NAT)), { ok: false, locked: false, failures: 7, delayMs: 1_000 });
    assert.equal((await login(BOB, RIGHT, NAT)).ok, true);
  });
});

test('with AUTH_ADDRESS_MAX_FAILURES set, failures on any accounts lock the whole address, right passwords included', async () => {
  await withService(
    async ({ login }) => {
      for (const user of ['a@example.test', 'b@example.test', 'c@example.test', 'd@example.test']) assert.equal((await login(user, 'guess', NAT)).locked, false);
      const refused = await login(BOB, RIGHT, NAT);
      assert.deepEqual([refused.ok, refused.locked, refused.retryAfterMs], [false, true, 10_000]);
      assert.equal((await login(BOB, RIGHT, '198.51.100.1')).ok, true, 'other addresses are not locked');
    },
    { ...THROTTLE, addressMaxFailures: 4 },
  );
});

test('the same wrong password tried again (another mechanism, a client retrying) counts once', async () => {
  await withService(async ({ login }) => {
    assert.equal((await login(ALICE, 'old password')).failures, 1);
    assert.equal((await login(ALICE, 'old password')).failures, 1);
    assert.equal((await login(ALICE, 'old password')).failures, 1);
    assert.equal((await login(ALICE, 'another')).failures, 2);
    assert.equal((await login(ALICE, RIGHT)).ok, true);
  });
});

test('failures of one account from many addresses delay its wrong passwords but never lock it', async () => {
  await withService(async ({ login }) => {
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(summary(await login(ALICE, `guess-${i}`, `198.51.100.${i}`)));
    assert.deepEqual(replies.map((r) => [r.locked, r.delayMs]), [[false, 100], [false, 200], [false, 400], [false, 800], [false, 1_000]]);
    assert.equal((await login(ALICE, RIGHT, '198.51.100.200')).ok, true);
  });
});

test('the lock ends after AUTH_LOCK_MS; failures leave the count after the window', async () => {
  await withService(async ({ login, advance }) => {
    for (let i = 0; i < 3; i++) await login(ALICE, `guess-${i}`);
    advance(9_999);
    assert.equal((await login(ALICE, RIGHT)).locked, true);
    advance(1);
    assert.equal((await login(ALICE, RIGHT)).ok, true);
    // The address still has its three failures in the window: a failure on Bob waits as the fourth.
    assert.deepEqual(summary(await login(BOB, 'guess')), { ok: false, locked: false, failures: 4, delayMs: 800 });
    advance(60_000);
    assert.deepEqual(summary(await login(BOB, 'guess')), { ok: false, locked: false, failures: 1, delayMs: 100 });
  });
});

test('a success clears the login\'s failures, not the address\'s nor the account\'s', async () => {
  await withService(async ({ login }) => {
    await login(ALICE, 'guess-1');
    await login(ALICE, 'guess-2');
    assert.equal((await login(ALICE, RIGHT)).ok, true);
    // Two more guesses do not lock Alice: her login count started again...
    assert.equal((await login(ALICE, 'guess-3')).locked, false);
    assert.equal((await login(ALICE, 'guess-4')).locked, false);
    assert.equal((await login(ALICE, RIGHT)).ok, true);
    // ...but the address and the account remember all four failures: the next one waits as the fifth.
    assert.equal((await login(ALICE, 'guess-5')).delayMs, 1_000);
  });
});

test('a request without a client address (an older client) is locked per account', async () => {
  await withService(async ({ login }) => {
    for (let i = 0; i < 3; i++) await login(ALICE, `guess-${i}`, '');
    assert.equal((await login(ALICE, RIGHT, '')).locked, true);
    assert.equal((await login(BOB, RIGHT, '')).ok, true);
    assert.equal((await login(ALICE, RIGHT, NAT)).ok, true);
  });
});

test('the operator\'s password test neither counts nor is refused by a lock', async () => {
  await withService(async ({ service, login }) => {
    for (let i = 0; i < 3; i++) await login(ALICE, `guess-${i}`);
    assert.deepEqual(await callThrough(service.testPassword, { address: ALICE, password: RIGHT }), { ok: true, mailbox: ALICE });
    assert.deepEqual(await callThrough(service.testPassword, { address: ALICE, password: 'wrong' }), { ok: false, mailbox: '' });
    assert.deepEqual(await callThrough(service.testPassword, { address: 'nobody@example.test', password: RIGHT }), { ok: false, mailbox: '' });
    assert.deepEqual(summary(await login(BOB, 'guess')), { ok: false, locked: false, failures: 4, delayMs: 800 }, 'the tests were not counted');
  });
});

test('the operator lists the records, locked first, and unlocks by address, by account, or both', async () => {
  await withService(async ({ service, login, now }) => {
    for (let i = 0; i < 3; i++) await login(ALICE, `guess-${i}`, NAT);
    await login(BOB, 'guess', '198.51.100.1');
    const { records } = await callThrough(service.listAuthRecords, {});
    assert.deepEqual(records[0], { kind: AuthRecordKind.AUTH_RECORD_KIND_LOGIN, clientAddress: NAT, account: ALICE, failures: 3, lockedUntilMs: now() + 10_000 });
    assert.deepEqual(
      records.slice(1).map((r) => [r.kind, r.clientAddress, r.account, r.failures, r.lockedUntilMs]),
      [
        [AuthRecordKind.AUTH_RECORD_KIND_ADDRESS, NAT, '', 3, 0],
        [AuthRecordKind.AUTH_RECORD_KIND_ACCOUNT, '', ALICE, 3, 0],
        [AuthRecordKind.AUTH_RECORD_KIND_LOGIN, '198.51.100.1', BOB, 1, 0],
        [AuthRecordKind.AUTH_RECORD_KIND_ADDRESS, '198.51.100.1', '', 1, 0],
        [AuthRecordKind.AUTH_RECORD_KIND_ACCOUNT, '', BOB, 1, 0],
      ],
    );
    await assert.rejects(callThrough(service.clearAuthRecords, { clientAddress: '', account: '' }), { details: 'name a client address, an account, or both' });
    assert.deepEqual(await callThrough(service.clearAuthRecords, { clientAddress: NAT, account: ALICE }), { cleared: 1 });
    assert.equal((await login(ALICE, RIGHT, NAT)).ok, true, 'unlocked');
    assert.deepEqual(await callThrough(service.clearAuthRecords, { clientAddress: NAT, account: '' }), { cleared: 1 });
    assert.deepEqual(await callThrough(service.clearAuthRecords, { clientAddress: '', account: BOB }), { cleared: 2 });
    assert.deepEqual((await callThrough(service.listAuthRecords, {})).records.map((r) => [r.kind, r.clientAddress, r.account]), [
      [AuthRecordKind.AUTH_RECORD_KIND_ACCOUNT, '', ALICE],
      [AuthRecordKind.AUTH_RECORD_KIND_ADDRESS, '198.51.100.1', ''],
    ]);
  });
});
