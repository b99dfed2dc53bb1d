// The retry schedule: durations, the back-off list whose last step repeats, and the queue lifetime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSchedule, RetrySchedule } from './retry-schedule.js';

test('the default schedule is 1m, 5m, 15m, 30m, 1h, then hourly', () => {
  const schedule = new RetrySchedule(parseSchedule('1m,5m,15m,30m,1h'));
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 20].map((n) => schedule.delayAfter(n) / 60_000),
    [1, 5, 15, 30, 60, 60, 60],
  );
});

test('a schedule needs positive steps', () => {
  assert.throws(() => parseSchedule('1m,0s'), /^Error: expected durations above zero separated by commas/);
  assert.throws(() => parseSchedule(''), /expected durations/);
  assert.throws(() => parseSchedule('1m,soon'), /expected durations/);
});
