// The slow-client deadline: armed once, moved later by progress, fired once when it passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputDeadline } from './input-deadline.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a deadline fires once when it passes; arming it again while it runs keeps the first time', async () => {
  let fired = 0;
  const deadline = new InputDeadline(() => fired++);
  deadline.arm(20);
  deadline.arm(10_000);
  await tick(60);
  assert.equal(fired, 1);
  assert.equal(deadline.armed, false);
});

test('progress moves a running deadline later; a cleared one never fires', async () => {
  let now = 0;
  let fired = 0;
  const deadline = new InputDeadline(() => fired++, () => now);
  deadline.arm(10);
  deadline.extend(1_000_000);
  now = 500;
  await tick(30);
  assert.equal(fired, 0, 'still ahead of its deadline');
  deadline.clear();
  assert.equal(deadline.armed, false);
});
