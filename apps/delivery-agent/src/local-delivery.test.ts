// The batcher of local deliveries: a lone delivery leaves at once; many at once share a few calls,
// each answered with its own reply; a failed call fails only its own items.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { DeliveryItem, DeliveryItemReply } from '@mail/contracts';
import { DeliveryBatcher } from './local-delivery.js';

const item = (queueId: string, bytes = 10): DeliveryItem => ({ header: { queueId, recipient: 'a@local.test', returnPath: '', size: bytes }, data: Buffer.alloc(bytes) });
const ok = (items: DeliveryItem[]): DeliveryItemReply[] => items.map((i) => ({ code: 0, details: '', uidl: `u-${i.header!.queueId}`, duplicate: false }));

test('a lone delivery goes in a call of its own at once', async () => {
  const calls: DeliveryItem[][] = [];
  const batcher = new DeliveryBatcher(async (items) => (calls.push(items), ok(items)));
  const reply = await batcher.add(item('Q1'));
  assert.equal(reply.uidl, 'u-Q1');
  assert.deepEqual(calls.map((c) => c.length), [1]);
});

test('deliveries of the same moment share calls, and each gets its own reply', async () => {
  const calls: DeliveryItem[][] = [];
  const batcher = new DeliveryBatcher(async (items) => {
    calls.push(items);
    await new Promise((r) => setTimeout(r, 5));
    return ok(items);
  });
  const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => batcher.add(item(`Q${i}`))));
  assert.deepEqual(replies.map((r) => r.uidl), Array.from({ length: 200 }, (_, i) => `u-Q${i}`));
  assert.ok(calls.length < 10, `200 deliveries in ${calls.length} calls`);
  assert.ok(calls.every((c) => c.length <= 64), 'no batch over 64 items');
});

test('a batch stays under the byte budget, and a failed call fails only its own items', async () => {
  let n = 0;
  const batcher = new DeliveryBatcher(async (items) => {
    assert.ok(items.reduce((t, i) => t + i.data.length, 0) <= 3 * 1024 * 1024);
    if (n++ === 0) throw new Error('mailbox-store unavailable');
    return ok(items);
  });
  const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => batcher.add(item(`Q${i}`, 200 * 1024))));
  const failed = results.filter((r) => r.status === 'rejected').length;
  assert.ok(failed > 0 && failed < 30, `${failed} of 30 failed with the first call`);
});
