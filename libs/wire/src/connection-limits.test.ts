// The connection table: limits in all and per client address, slots counted before the address is known.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionLimits, type ConnectionSlot } from './connection-limits.js';

const slot = (taken: ConnectionSlot | string): ConnectionSlot => {
  assert.equal(typeof taken, 'object', `refused: ${String(taken)}`);
  return taken as ConnectionSlot;
};

test('connections beyond the total or the per-address limit are refused, and a released slot is free again', () => {
  const limits = new ConnectionLimits(3, 2);
  const a1 = slot(limits.take('192.0.2.1'));
  slot(limits.take('192.0.2.1'));
  assert.equal(limits.take('192.0.2.1'), 'per-address');
  slot(limits.take('192.0.2.2'));
  assert.equal(limits.take('192.0.2.3'), 'total');
  a1.release();
  a1.release(); // twice is once
  assert.equal(limits.open, 2);
  slot(limits.take('192.0.2.1'));
});

test('a slot taken before the client is known (PROXY header pending) counts in all, then against the address it is assigned', () => {
  const limits = new ConnectionLimits(4, 1);
  const pending = slot(limits.take());
  assert.equal(limits.open, 1);
  assert.equal(pending.assign('198.51.100.7'), undefined);
  assert.equal(pending.address, '198.51.100.7');
  const second = slot(limits.take());
  assert.equal(second.assign('198.51.100.7'), 'per-address');
  second.release();
  pending.release();
  assert.equal(limits.open, 0);
  slot(limits.take('198.51.100.7'));
});

test('the reserved last slots go only to addresses that hold no connection yet', () => {
  const limits = new ConnectionLimits(10, 20, 20); // the last 2 slots
  for (let i = 0; i < 8; i++) slot(limits.take('192.0.2.1'));
  assert.equal(limits.take('192.0.2.1'), 'reserved', 'a ninth would leave less than the reserve');
  slot(limits.take('192.0.2.2'));
  assert.equal(limits.take('192.0.2.2'), 'reserved');
  slot(limits.take('192.0.2.3'));
  assert.equal(limits.take('192.0.2.4'), 'total');
  assert.equal(limits.open, 10);
});

test('behind a PROXY load balancer the reserve applies once the header names the client', () => {
  const limits = new ConnectionLimits(5, 20, 20); // the last slot
  for (let i = 0; i < 4; i++) slot(limits.take('192.0.2.1'));
  const pending = slot(limits.take());
  assert.equal(pending.assign('192.0.2.1'), 'reserved');
  assert.equal(pending.assign('192.0.2.9'), undefined);
});
