// Job and result batches on the wire: a batch decodes to its items, a lone item (what versions before
// batches sent, still in a stream at an upgrade) decodes as a batch of one, and a batch's message id is
// stable for the same items and distinct for different ones.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { approximateBytes, batchMessageId, decodeJobBatch, decodeResultBatch, encodePayload, MAX_BATCH_ITEMS, type DeliveryJob, type DeliveryResult } from './nats.js';

const job = (n: number): DeliveryJob => ({ queueId: `Q${n}`, jobId: `Q${n}.1`, sender: 's@remote.test', recipients: [`r${n}@local.test`], smtputf8: false, domain: 'local.test' });
const result = (n: number): DeliveryResult => ({ queueId: `Q${n}`, jobId: `Q${n}.1`, results: [{ recipient: `r${n}@local.test`, outcome: 'delivered', reply: '250 ok' }] });

test('a job batch decodes to its jobs, a lone job to a batch of one', () => {
  assert.deepEqual(decodeJobBatch(encodePayload({ jobs: [job(1), job(2)] })).map((j) => j.jobId), ['Q1.1', 'Q2.1']);
  assert.deepEqual(decodeJobBatch(encodePayload(job(3))).map((j) => j.jobId), ['Q3.1']);
});

test('a result batch decodes to its results, a lone result to a batch of one', () => {
  assert.deepEqual(decodeResultBatch(encodePayload({ results: [result(1), result(2)] })).map((r) => r.jobId), ['Q1.1', 'Q2.1']);
  const lone = decodeResultBatch(encodePayload(result(3)));
  assert.equal(lone.length, 1);
  assert.equal(lone[0]!.results[0]!.outcome, 'delivered');
});

test('malformed or oversized batches are refused (the consumer terminates them)', () => {
  assert.throws(() => decodeJobBatch(encodePayload({ jobs: [] })));
  assert.throws(() => decodeJobBatch(encodePayload({ jobs: Array.from({ length: MAX_BATCH_ITEMS + 1 }, (_, i) => job(i)) })));
  assert.throws(() => decodeResultBatch(encodePayload({ results: [{ queueId: 'Q1' }] })));
  assert.throws(() => decodeJobBatch(new TextEncoder().encode('not json')), SyntaxError);
});

test('a batch message id is the item id for one item, and a stable digest of the ids for many', () => {
  assert.equal(batchMessageId(['Q1.1']), 'Q1.1');
  assert.equal(batchMessageId(['Q1.1', 'Q2.1']), batchMessageId(['Q1.1', 'Q2.1']));
  assert.notEqual(batchMessageId(['Q1.1', 'Q2.1']), batchMessageId(['Q1.1', 'Q3.1']));
  assert.notEqual(batchMessageId(['Q1.1', 'Q2.1']), batchMessageId(['Q2.1', 'Q1.1']));
});

test('the size estimate grows with what the item carries', () => {
  const many = { ...job(1), recipients: Array.from({ length: 100 }, (_, i) => `recipient-${i}@local.test`) };
  assert.ok(approximateBytes(many) > JSON.stringify(many).length * 0.9);
  assert.ok(approximateBytes(result(1)) >= JSON.stringify(result(1)).length * 0.9);
});
