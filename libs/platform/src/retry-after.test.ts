import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryAfterText } from './retry-after.js';

test('a locked reply says when to retry, in seconds or minutes, rounded up', () => {
  assert.equal(retryAfterText(0), 'try again later');
  assert.equal(retryAfterText(1), 'try again in 1 second');
  assert.equal(retryAfterText(41_001), 'try again in 42 seconds');
  assert.equal(retryAfterText(119_000), 'try again in 119 seconds');
  assert.equal(retryAfterText(15 * 60_000), 'try again in 15 minutes');
});
