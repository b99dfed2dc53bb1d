// Queue ids: the spool's keys and NATS subject tokens, so their shape and uniqueness are a contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newQueueId } from './spool.js';

test('queue ids are 20 characters of [0-9A-Z], sort by time, and do not repeat across refills of the random pool', () => {
  const ids = Array.from({ length: 1000 }, () => newQueueId(1_700_000_000_000));
  for (const id of ids) assert.match(id, /^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{20}$/);
  assert.equal(new Set(ids).size, ids.length, 'unique (1,000 ids use the 4 KB pool twice and more)');
  assert.equal(new Set(ids.map((id) => id.slice(0, 10))).size, 1, 'the same millisecond, the same time part');
  assert.ok(newQueueId(1_700_000_000_000) < newQueueId(1_700_000_000_001));
  assert.ok(newQueueId(1_700_000_000_999) < newQueueId(1_700_000_001_000));
});
