// LeaseTable with an injected clock: the maildrop lock of RFC 1939 §8, which expires if not renewed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseTable } from './leases.js';

const BOX = 'alice@example.com';

test('a lease is refused to a second session while it is live', () => {
  const leases = new LeaseTable();
  const id = leases.acquire(BOX, 1000, 0);
  assert.ok(id);
  assert.equal(leases.acquire(BOX, 1000, 999), undefined);
  assert.equal(leases.holds(BOX, id, 999), true);
});

test('a lease expires at acquire time plus its ttl', () => {
  const leases = new LeaseTable();
  const id = leases.acquire(BOX, 1000, 0)!;
  assert.equal(leases.holds(BOX, id, 1000), false);
  const next = leases.acquire(BOX, 1000, 1000);
  assert.ok(next);
  assert.notEqual(next, id);
  assert.equal(leases.holds(BOX, next, 1500), true);
  assert.equal(leases.holds(BOX, id, 1500), false);
});

test('renewing a live lease extends it from now', () => {
  const leases = new LeaseTable();
  const id = leases.acquire(BOX, 1000, 0)!;
  assert.equal(leases.renew(BOX, id, 1000, 900), true);
  assert.equal(leases.holds(BOX, id, 1899), true);
  assert.equal(leases.acquire(BOX, 1000, 1899), undefined);
  assert.equal(leases.holds(BOX, id, 1900), false);
});

test('renewing a lease someone else holds is refused', () => {
  const leases = new LeaseTable();
  const old = leases.acquire(BOX, 1000, 0)!;
  const current = leases.acquire(BOX, 1000, 1000)!;
  assert.equal(leases.renew(BOX, old, 1000, 1100), false);
  assert.equal(leases.holds(BOX, current, 1100), true);
});

test('an expired lease nobody took, or one this process forgot, is taken back on renew', () => {
  const leases = new LeaseTable();
  const id = leases.acquire(BOX, 1000, 0)!;
  assert.equal(leases.renew(BOX, id, 1000, 5000), true);
  assert.equal(leases.holds(BOX, id, 5999), true);
  // After a restart the table is empty; the holder keeps its lease.
  const restarted = new LeaseTable();
  assert.equal(restarted.renew(BOX, id, 1000, 0), true);
  assert.equal(restarted.acquire(BOX, 1000, 10), undefined);
});

test('release frees the maildrop only for the holder', () => {
  const leases = new LeaseTable();
  const id = leases.acquire(BOX, 1000, 0)!;
  leases.release(BOX, 'someone-else');
  assert.equal(leases.acquire(BOX, 1000, 10), undefined);
  leases.release(BOX, id);
  assert.equal(leases.holds(BOX, id, 10), false);
  assert.ok(leases.acquire(BOX, 1000, 10));
});

test('leases on different maildrops are independent', () => {
  const leases = new LeaseTable();
  assert.ok(leases.acquire(BOX, 1000, 0));
  assert.ok(leases.acquire('bob@example.com', 1000, 0));
});
