// The retry schedule: durations, the back-off list whose last step repeats, and the queue lifetime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseSchedule, RetrySchedule } from './retry-schedule.js';

test('durations are read with their unit', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('4h'), 14_400_000);
  assert.equal(parseDuration('5d'), 432_000_000);
  assert.equal(parseDuration('1500'), 1500);
  assert.throws(() => parseDuration('soon'), /not a duration/);
});

test('the default schedule is 1m, 5m, 15m, 30m, 1h, then hourly', () => {
  const schedule = new RetrySchedule(parseSchedule('1m,5m,15m,30m,1h'));
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 20].map((n) => schedule.delayAfter(n) / 60_000),
    [1, 5, 15, 30, 60, 60, 60],
  );
});

test('a schedule needs positive steps', () => {
  assert.throws(() => parseSchedule('1m,0s'), /positive/);
  assert.throws(() => parseSchedule(''), /not a duration/);
});
