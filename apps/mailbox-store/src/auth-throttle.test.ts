// The failed-login throttling arithmetic: keys, window, lock and growing delay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  authKeyMatches,
  authThrottleKeys,
  describeAuthKey,
  failedPasswordTag,
  failureDelayMs,
  failureWindowStart,
  isAuthLocked,
  lockAfterFailure,
  type AuthThrottleSettings,
} from './auth-throttle.js';

const SETTINGS: AuthThrottleSettings = { maxFailures: 3, windowMs: 60_000, lockMs: 10_000, baseDelayMs: 100, maxDelayMs: 1_000, addressMaxFailures: 0 };

test('an attempt counts under its login (address and account), its address and its account (trimmed, lower-cased)', () => {
  assert.deepEqual(authThrottleKeys('203.0.113.7', ' Alice@Example.TEST '), {
    login: 'login:203.0.113.7 alice@example.test',
    address: 'ip:203.0.113.7',
    account: 'account:alice@example.test',
  });
});

test('without a client address (an older client) the login is the account from an unknown address', () => {
  assert.deepEqual(authThrottleKeys('', 'alice@example.test'), { login: 'login: alice@example.test', account: 'account:alice@example.test' });
});

test('very long names are hashed into a short key, still one key per name', () => {
  const long = `${'a'.repeat(5000)}@example.test`;
  const { login, account } = authThrottleKeys('', long);
  assert.match(account, /^account#[0-9a-f]{64}$/);
  assert.match(login, /^login#[0-9a-f]{64}$/);
  assert.equal(authThrottleKeys('', long.toUpperCase()).account, account);
  assert.notEqual(authThrottleKeys('', `b${long}`).account, account);
  assert.deepEqual(describeAuthKey(login), { kind: 'login' }, 'a hashed key names nothing');
});

test('a key tells the operator its kind, address and account', () => {
  assert.deepEqual(describeAuthKey('login:203.0.113.7 alice@example.test'), { kind: 'login', clientAddress: '203.0.113.7', account: 'alice@example.test' });
  assert.deepEqual(describeAuthKey('login: alice@example.test'), { kind: 'login', clientAddress: '', account: 'alice@example.test' });
  assert.deepEqual(describeAuthKey('ip:2001:db8::1'), { kind: 'address', clientAddress: '2001:db8::1' });
  assert.deepEqual(describeAuthKey('account:bob@example.test'), { kind: 'account', account: 'bob@example.test' });
});

test('the unlock filter matches by address, by account, or by both, and never matches an empty filter', () => {
  const login = 'login:203.0.113.7 alice@example.test';
  assert.equal(authKeyMatches(login, { clientAddress: '203.0.113.7' }), true);
  assert.equal(authKeyMatches(login, { account: 'ALICE@example.test' }), true);
  assert.equal(authKeyMatches(login, { clientAddress: '203.0.113.7', account: 'bob@example.test' }), false);
  assert.equal(authKeyMatches('ip:203.0.113.7', { clientAddress: '203.0.113.7' }), true);
  assert.equal(authKeyMatches('ip:203.0.113.7', { account: 'alice@example.test' }), false);
  assert.equal(authKeyMatches(login, {}), false);
});

test('the same wrong password on the same login has one tag; another password or login another', () => {
  const login = 'login:203.0.113.7 alice@example.test';
  assert.match(failedPasswordTag(login, 'guess'), /^[0-9a-f]{8}$/);
  assert.equal(failedPasswordTag(login, 'guess'), failedPasswordTag(login, 'guess'));
  assert.notEqual(failedPasswordTag(login, 'guess'), failedPasswordTag(login, 'guess2'));
  assert.notEqual(failedPasswordTag(login, 'guess'), failedPasswordTag('login:203.0.113.7 bob@example.test', 'guess'));
});

test('a key is locked strictly before lockedUntilMs, and a missing record is not locked', () => {
  assert.equal(isAuthLocked(undefined, 1_000), false);
  assert.equal(isAuthLocked({ failures: 3, lockedUntilMs: 2_000 }, 1_999), true);
  assert.equal(isAuthLocked({ failures: 3, lockedUntilMs: 2_000 }, 2_000), false);
});

test('failures count for windowMs after they happened (a sliding window)', () => {
  assert.equal(failureWindowStart(SETTINGS, 100_000), 40_000);
});

test('the maxFailures-th failure in the window locks for lockMs; fewer do not; a limit of 0 never locks', () => {
  assert.equal(lockAfterFailure({ failures: 2, lockedUntilMs: 0 }, 3, SETTINGS, 5_000), undefined);
  assert.equal(lockAfterFailure({ failures: 3, lockedUntilMs: 0 }, 3, SETTINGS, 5_000), 15_000);
  assert.equal(lockAfterFailure({ failures: 7, lockedUntilMs: 0 }, 3, SETTINGS, 5_000), 15_000, 'again after a lock ran out');
  assert.equal(lockAfterFailure({ failures: 3, lockedUntilMs: 0 }, 3, { ...SETTINGS, lockMs: 0 }, 5_000), undefined, 'AUTH_LOCK_MS=0 never locks');
  assert.equal(lockAfterFailure({ failures: 99, lockedUntilMs: 0 }, 0, SETTINGS, 5_000), undefined, 'AUTH_ADDRESS_MAX_FAILURES=0');
});

test('the delay doubles with each failure, from the base to the cap', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((n) => failureDelayMs(n, SETTINGS)), [0, 100, 200, 400, 800, 1_000, 1_000]);
  assert.equal(failureDelayMs(5_000, SETTINGS), 1_000, 'no overflow for many failures');
  assert.equal(failureDelayMs(3, { ...SETTINGS, baseDelayMs: 0 }), 0);
});
