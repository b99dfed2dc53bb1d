import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Semaphore } from './semaphore.js';

test('semaphore: at most `limit` holders; a release hands its slot to the first waiter, not to someone arriving later', async () => {
  const slots = new Semaphore(2);
  const first = await slots.acquire();
  await slots.acquire();
  const order: string[] = [];
  const waiter = slots.acquire().then((release) => (order.push('waiter'), release));
  await nextTurn();
  assert.equal(order.length, 0, 'the third waits while two hold slots');
  first();
  const latecomer = slots.acquire().then((release) => (order.push('latecomer'), release));
  await nextTurn();
  assert.deepEqual(order, ['waiter'], 'the freed slot went to the waiter; the latecomer still waits');
  first(); // a second call of the same release gives nothing back
  await nextTurn();
  assert.deepEqual(order, ['waiter']);
  (await waiter)();
  (await latecomer)();
  assert.equal(slots.idle, false, 'one of the first two still holds its slot');
});

test('semaphore: idle once every slot is given back and nobody waits', async () => {
  const slots = new Semaphore(1);
  assert.equal(slots.idle, true);
  const release = await slots.acquire();
  const next = slots.acquire();
  release();
  assert.equal(slots.idle, false, 'handed to the waiter');
  (await next)();
  assert.equal(slots.idle, true);
});
