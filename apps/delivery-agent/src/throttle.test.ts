// Per-destination throttling: connection slots per domain and per host, messages per window, and
// backing off a failing destination as a whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDomainLimits, Throttle } from './throttle.js';

const defaults = { maxConnections: 2, maxMessagesPerWindow: 3, windowMs: 60_000 };

test('at most maxConnections deliveries to one domain at once; the next waits for a slot', async () => {
  const throttle = new Throttle(defaults, new Map(), 10, 1000);
  const a = await throttle.domainSlot('example.com');
  const b = await throttle.domainSlot('example.com');
  let third = false;
  const pending = throttle.domainSlot('example.com').then((release) => {
    third = true;
    return release;
  });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(third, false, 'the third waits');
  const other = await throttle.domainSlot('other.example'); // another domain is not blocked
  a();
  (await pending)();
  assert.equal(third, true);
  b();
  other();
});

test('messages per window: the fourth message waits until the oldest leaves the window', () => {
  let now = 1_000_000;
  const throttle = new Throttle(defaults, new Map(), 10, 1000, () => now);
  for (let i = 0; i < 3; i++) {
    assert.equal(throttle.rateDelay('example.com'), 0);
    throttle.recordSent('example.com');
    now += 1000;
  }
  assert.equal(throttle.rateDelay('example.com'), 57_000);
  now += 57_000;
  assert.equal(throttle.rateDelay('example.com'), 0);
});

test('per-domain overrides replace the defaults', () => {
  const overrides = parseDomainLimits('slow.example=1/10, fast.example=50', defaults);
  assert.deepEqual(overrides.get('slow.example'), { maxConnections: 1, maxMessagesPerWindow: 10, windowMs: 60_000 });
  assert.deepEqual(overrides.get('fast.example'), { maxConnections: 50, maxMessagesPerWindow: 3, windowMs: 60_000 });
  assert.throws(() => parseDomainLimits('bad', defaults), /not domain=connections/);
  const throttle = new Throttle(defaults, overrides, 10, 1000);
  assert.equal(throttle.limitsFor('SLOW.example').maxConnections, 1);
  assert.equal(throttle.limitsFor('unknown.example').maxConnections, 2);
});

test('a destination that failed is backed off as a whole until the back-off passes', () => {
  let now = 0;
  const throttle = new Throttle(defaults, new Map(), 10, 30_000, () => now);
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
