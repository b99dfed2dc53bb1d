// The UPDATE state's deadline: a QUIT that removes many messages waits for the store in proportion.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { updateDeadlineMs } from './maildrops.js';

test("a QUIT waits one backend deadline, and one more for every hundred messages it removes", () => {
  assert.equal(updateDeadlineMs(15_000, 0), 15_000);
  assert.equal(updateDeadlineMs(15_000, 1), 30_000);
  assert.equal(updateDeadlineMs(15_000, 100), 30_000);
  assert.equal(updateDeadlineMs(15_000, 178), 45_000);
  assert.equal(updateDeadlineMs(15_000, 10_000), 1_515_000);
});
