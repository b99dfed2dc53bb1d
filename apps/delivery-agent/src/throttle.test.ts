// delivery-agent's own limits: connection slots per MX host, and backing off a failing destination.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Throttle } from './throttle.js';

test('at most maxConnectionsPerHost connections to one host at once; the next waits for a slot', async () => {
  const throttle = new Throttle(2, 1000);
  const a = await throttle.hostSlot('mx.example.com:25');
  const b = await throttle.hostSlot('MX.example.com:25');
  let third = false;
  const pending = throttle.hostSlot('mx.example.com:25').then((release) => {
    third = true;
    return release;
  });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(third, false, 'the third waits');
  const other = await throttle.hostSlot('mx.other.example:25'); // another host is not blocked
  a();
  (await pending)();
  assert.equal(third, true);
  b();
  other();
});

test('a destination that failed is backed off as a whole until the back-off passes', () => {
  let now = 0;
  const throttle = new Throttle(10, 30_000, () => now);
  throttle.backOff('domain:example.com', 'connection refused');
  assert.equal(throttle.backedOff('domain:example.com'), 'connection refused');
  now = 29_999;
  assert.ok(throttle.backedOff('domain:example.com'));
  now = 30_000;
  assert.equal(throttle.backedOff('domain:example.com'), undefined);
  throttle.backOff('host:mx', 'x');
  throttle.clearBackoff('host:mx');
  assert.equal(throttle.backedOff('host:mx'), undefined);
});

test('a back-off of 0 turns backing off off', () => {
  const throttle = new Throttle(10, 0);
  throttle.backOff('domain:example.com', 'refused');
  assert.equal(throttle.backedOff('domain:example.com'), undefined);
});
