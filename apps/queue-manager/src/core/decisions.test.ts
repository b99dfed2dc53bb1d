// The pure rules of the queue with a plain clock.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { RetrySchedule } from '../retry-schedule.js';
import { applyTime, type QueuePolicy } from './decisions.js';
import { newEntry, QueueEntry } from './entry.js';

const DAY = 86_400_000;
const policy: QueuePolicy = { remoteRetry: new RetrySchedule([60_000]), localRetry: new RetrySchedule([5000]), maxLifetimeMs: 5 * DAY, delayWarningMs: 0, jobTimeoutMs: 900_000, localJobTimeoutMs: 120_000 };

test('a message expires once it has been queued for the maximum lifetime', () => {
  const received = 1_000_000;
  const entry = () => newEntry({ queueId: 'Q', sender: 's@x.test', recipients: ['r@y.test'], localRecipients: new Set(), size: 1, receivedAt: received, smtputf8: false });
  const before = entry();
  assert.equal(applyTime(before, received + 5 * DAY - 1, policy).changes.length, 0);
  assert.equal(before.destinations[0]!.state, 'pending');
  const after = entry();
  applyTime(after, received + 5 * DAY, policy);
  assert.equal(after.destinations[0]!.state, 'failed');
});

test('an entry written with the old name of the notice flag (`bounced`) reads as reported, so no notice is sent twice', () => {
  const stored = newEntry({ queueId: 'Q', sender: 's@x.test', recipients: ['r@y.test', 't@y.test'], localRecipients: new Set(), size: 1, receivedAt: 0, smtputf8: false });
  const legacy = JSON.parse(JSON.stringify(stored)) as { destinations: Record<string, unknown>[] };
  for (const destination of legacy.destinations) delete destination.reported;
  legacy.destinations[0]!.bounced = true;
  const read = QueueEntry.parse(legacy);
  assert.deepEqual(read.destinations.map((d) => d.reported), [true, false]);
  assert.ok(!('bounced' in read.destinations[0]!), 'the old name is not carried on');
});
