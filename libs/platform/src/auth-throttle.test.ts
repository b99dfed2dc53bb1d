// The failed-login throttling arithmetic: keys, window, lock and growing delay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accountThrottleKey,
  authThrottleKeys,
  failureDelayMs,
  failureWindowStart,
  isAuthLocked,
  lockAfterFailure,
  type AuthThrottleSettings,
} from './auth-throttle.js';

const SETTINGS: AuthThrottleSettings = { maxFailures: 3, windowMs: 60_000, lockMs: 10_000, baseDelayMs: 100, maxDelayMs: 1_000 };

test('an attempt counts under its client address and its account name (trimmed, lower-cased)', () => {
  assert.deepEqual(authThrottleKeys('203.0.113.7', ' Alice@Example.TEST '), ['ip:203.0.113.7', 'account:alice@example.test']);
  assert.equal(accountThrottleKey('ALICE@example.test'), 'account:alice@example.test');
});

test('without a client address (an older client) only the account counts', () => {
  assert.deepEqual(authThrottleKeys('', 'alice@example.test'), ['account:alice@example.test']);
});

test('very long names are hashed into a short key, still one key per name', () => {
  const long = `${'a'.repeat(5000)}@example.test`;
  const [key] = authThrottleKeys('', long);
  assert.match(key!, /^account#[0-9a-f]{64}$/);
  assert.equal(accountThrottleKey(long.toUpperCase()), key);
  assert.notEqual(accountThrottleKey(`b${long}`), key);
});

test('a key is locked strictly before lockedUntilMs, and a missing record is not locked', () => {
  assert.equal(isAuthLocked(undefined, 1_000), false);
  assert.equal(isAuthLocked({ failures: 3, lockedUntilMs: 2_000 }, 1_999), true);
  assert.equal(isAuthLocked({ failures: 3, lockedUntilMs: 2_000 }, 2_000), false);
});

test('failures count for windowMs after they happened (a sliding window)', () => {
  assert.equal(failureWindowStart(SETTINGS, 100_000), 40_000);
});

test('the maxFailures-th failure in the window locks for lockMs; fewer do not', () => {
  assert.equal(lockAfterFailure({ failures: 2, lockedUntilMs: 0 }, SETTINGS, 5_000), undefined);
  assert.equal(lockAfterFailure({ failures: 3, lockedUntilMs: 0 }, SETTINGS, 5_000), 15_000);
  assert.equal(lockAfterFailure({ failures: 7, lockedUntilMs: 0 }, SETTINGS, 5_000), 15_000, 'again after a lock ran out');
  assert.equal(lockAfterFailure({ failures: 3, lockedUntilMs: 0 }, { ...SETTINGS, lockMs: 0 }, 5_000), undefined, 'AUTH_LOCK_MS=0 never locks');
});

test('the delay doubles with each failure, from the base to the cap', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((n) => failureDelayMs(n, SETTINGS)), [0, 100, 200, 400, 800, 1_000, 1_000]);
  assert.equal(failureDelayMs(5_000, SETTINGS), 1_000, 'no overflow for many failures');
  assert.equal(failureDelayMs(3, { ...SETTINGS, baseDelayMs: 0 }), 0);
});
