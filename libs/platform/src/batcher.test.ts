// The batcher: a lone item leaves at once; many at once share a few calls, each answered with its own
// reply; a batch keeps to its item and byte budgets; a failed call fails only its own items.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { Batcher } from './batcher.js';

interface Item {
  id: string;
  bytes: number;
}
const item = (id: string, bytes = 10): Item => ({ id, bytes });
const echo = (items: Item[]) => items.map((i) => `r-${i.id}`);
const options = { maxItems: 64, maxCalls: 4, maxBytes: 3 * 1024 * 1024, sizeOf: (i: Item) => i.bytes };

test('a lone item goes in a call of its own at once', async () => {
  const calls: Item[][] = [];
  const batcher = new Batcher(async (items: Item[]) => (calls.push(items), echo(items)), options);
  assert.equal(await batcher.add(item('Q1')), 'r-Q1');
  assert.deepEqual(calls.map((c) => c.length), [1]);
});

test('items of the same moment share calls, and each gets its own reply', async () => {
  const calls: Item[][] = [];
  const batcher = new Batcher(async (items: Item[]) => {
    calls.push(items);
    await new Promise((r) => setTimeout(r, 5));
    return echo(items);
  }, options);
  const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => batcher.add(item(`Q${i}`))));
  assert.deepEqual(replies, Array.from({ length: 200 }, (_, i) => `r-Q${i}`));
  assert.ok(calls.length < 10, `200 items in ${calls.length} calls`);
  assert.ok(calls.every((c) => c.length <= 64), 'no batch over 64 items');
});

test('a batch stays under the byte budget, and a failed call fails only its own items', async () => {
  let n = 0;
  const batcher = new Batcher(async (items: Item[]) => {
    assert.ok(items.reduce((t, i) => t + i.bytes, 0) <= 3 * 1024 * 1024);
    if (n++ === 0) throw new Error('unavailable');
    return echo(items);
  }, options);
  const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => batcher.add(item(`Q${i}`, 200 * 1024))));
  const failed = results.filter((r) => r.status === 'rejected').length;
  assert.ok(failed > 0 && failed < 30, `${failed} of 30 failed with the first call`);
});

test('a call answering the wrong number of replies fails its items instead of leaving them waiting', async () => {
  const batcher = new Batcher(async (items: Item[]) => echo(items).slice(1), options);
  await assert.rejects(batcher.add(item('Q1')), /answered with 0 replies/);
});

test('no more than maxCalls batches are out at once', async () => {
  let out = 0;
  let most = 0;
  const batcher = new Batcher(async (items: Item[]) => {
    most = Math.max(most, ++out);
    await new Promise((r) => setTimeout(r, 2));
    out--;
    return echo(items);
  }, { ...options, maxItems: 1, maxCalls: 3 });
  await Promise.all(Array.from({ length: 20 }, (_, i) => batcher.add(item(`Q${i}`))));
  assert.equal(most, 3);
});
