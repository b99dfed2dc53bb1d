import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadAhead, type FetchedMessage } from './read-ahead.js';

const KB = 1024;
const maildrop = (sizes: number[]) => sizes.map((size, i) => ({ uidl: `u${i + 1}`, size }));
const limits = { budgetBytes: 100 * KB, maxMessageBytes: 40 * KB, maxMessages: 64 };

/** A fake mailbox-store: records each FetchMessages call and answers with `u<n>`'s bytes. */
function store(options: { cap?: number; missing?: string[]; fail?: boolean } = {}) {
  const calls: string[][] = [];
  const fetchMany = async (uidls: string[]): Promise<FetchedMessage[]> => {
    calls.push(uidls);
    if (options.fail) throw new Error('unavailable');
    return uidls.slice(0, options.cap ?? uidls.length).map((uidl) => ({
      uidl,
      data: Buffer.from(`body of ${uidl}`),
      missing: options.missing?.includes(uidl) ?? false,
    }));
  };
  return { calls, fetchMany };
}

const text = (data: Uint8Array | undefined) => (data ? Buffer.from(data).toString() : undefined);

test('in-order RETRs are served from calls of several messages, the next call made before it is needed', async () => {
  const s = store();
  const reader = new ReadAhead(maildrop(Array(10).fill(20 * KB)), limits, s.fetchMany);
  for (let n = 1; n <= 10; n++) assert.equal(text(await reader.take(`u${n}`)), `body of u${n}`);
  // 100 KB a call: five messages each; the second call goes out while the first one's are taken.
  assert.deepEqual(s.calls, [
    ['u1', 'u2', 'u3', 'u4', 'u5'],
    ['u6', 'u7', 'u8', 'u9', 'u10'],
  ]);
});

test('a large message is not read ahead and ends the call before it', async () => {
  const s = store();
  const reader = new ReadAhead(maildrop([10 * KB, 10 * KB, 50 * KB, 10 * KB]), limits, s.fetchMany);
  assert.equal(text(await reader.take('u1')), 'body of u1');
  assert.equal(text(await reader.take('u2')), 'body of u2');
  assert.equal(await reader.take('u3'), undefined, 'over maxMessageBytes: the caller streams it');
  assert.equal(text(await reader.take('u4')), 'body of u4');
  assert.deepEqual(s.calls, [['u1', 'u2'], ['u4']]);
});

test('a RETR out of order starts over from that message', async () => {
  const s = store();
  const reader = new ReadAhead(maildrop(Array(8).fill(30 * KB)), limits, s.fetchMany);
  await reader.take('u1');
  assert.equal(text(await reader.take('u7')), 'body of u7');
  assert.deepEqual(s.calls.at(-1), ['u7', 'u8']);
  assert.equal(text(await reader.take('u2')), 'body of u2', 'what was dropped is asked for again');
});

test('messages left out of an answer (size cap, missing, failure) fall back to the caller', async () => {
  const capped = new ReadAhead(maildrop([10 * KB, 10 * KB, 10 * KB]), limits, store({ cap: 1 }).fetchMany);
  assert.equal(text(await capped.take('u1')), 'body of u1');
  assert.equal(await capped.take('u2'), undefined);

  const missing = new ReadAhead(maildrop([10 * KB, 10 * KB]), limits, store({ missing: ['u2'] }).fetchMany);
  assert.equal(text(await missing.take('u1')), 'body of u1');
  assert.equal(await missing.take('u2'), undefined);

  const failing = new ReadAhead(maildrop([10 * KB]), limits, store({ fail: true }).fetchMany);
  assert.equal(await failing.take('u1'), undefined);
});

test('TOP peeks without taking or asking; a budget of 0 turns read-ahead off', async () => {
  const s = store();
  const reader = new ReadAhead(maildrop([10 * KB, 10 * KB]), limits, s.fetchMany);
  assert.equal(reader.peek('u1'), undefined);
  assert.equal(s.calls.length, 0);
  await reader.take('u1');
  assert.equal(text(await reader.peek('u2')), 'body of u2');
  assert.equal(text(await reader.take('u2')), 'body of u2');
  assert.equal(s.calls.length, 1);

  const off = store();
  assert.equal(await new ReadAhead(maildrop([10 * KB]), { ...limits, budgetBytes: 0 }, off.fetchMany).take('u1'), undefined);
  assert.equal(off.calls.length, 0);
});
