// The queue core on the in-memory port with a fake clock: admission per destination, the local lane,
// retries and expiry driven by time alone, lost jobs, orphans and late events, take-over.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { pino } from 'pino';
import type { AcceptedMessage, DeliveryResult } from '@mail/contracts';
import { QueueEvents } from '../events.js';
import { RetrySchedule } from '../retry-schedule.js';
import { Admission, type DestinationLimits } from './admission.js';
import type { QueuePolicy } from './decisions.js';
import { newEntry } from './entry.js';
import { MemoryQueuePort } from './queue-port.js';
import { QueueCore } from './queue-core.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

interface Setup {
  core: QueueCore;
  port: MemoryQueuePort;
  clock: { now: number };
  policy: QueuePolicy;
}

function setup(options: { limits?: Record<string, Partial<DestinationLimits>>; laneLimits?: { local: number; remote: number }; policy?: Partial<QueuePolicy>; port?: MemoryQueuePort; clock?: { now: number } } = {}): Setup {
  const clock = options.clock ?? { now: 1_000_000 };
  const port = options.port ?? new MemoryQueuePort();
  const defaults: DestinationLimits = { maxConnections: 10, maxMessagesPerWindow: 0, windowMs: MINUTE };
  const policy: QueuePolicy = {
    remoteRetry: new RetrySchedule([MINUTE, 5 * MINUTE]),
    localRetry: new RetrySchedule([5000]),
    maxLifetimeMs: 5 * DAY,
    delayWarningMs: 0,
    jobTimeoutMs: 15 * MINUTE,
    localJobTimeoutMs: 2 * MINUTE,
    ...options.policy,
  };
  const admission = new Admission(
    {
      limitsFor: (domain) => ({ ...defaults, ...options.limits?.[domain] }),
      laneLimits: options.laneLimits ?? { local: 64, remote: 256 },
      initialConcurrency: 5,
    },
    () => clock.now,
  );
  const core = new QueueCore(port, { policy, admission, events: new QueueEvents(pino({ level: 'silent' })), reportingMta: 'mx.test', now: () => clock.now });
  return { core, port, clock, policy };
}

let counter = 0;
function accepted(recipients: string[], local: string[] = [], sender = 'sender@elsewhere.test', clock?: { now: number }): AcceptedMessage {
  const queueId = `Q${String(++counter).padStart(8, '0')}`;
  return { queueId, sender, recipients, localRecipients: local, size: 10, receivedAt: clock?.now ?? 1_000_000, smtputf8: false, eightBitMime: false, binaryMime: false, clientAddress: '', submittedBy: '', bounceOf: '', chunks: 0, chunkSeqs: [] };
}

async function accept(s: Setup, recipients: string[], local: string[] = [], sender?: string): Promise<string> {
  const message = accepted(recipients, local, sender, s.clock);
  await s.core.activate();
  s.port.messages.set(message.queueId, new TextEncoder().encode('Subject: t\r\n\r\nbody\r\n'));
  s.port.envelopes.set(message.queueId, message);
  await s.core.onAccepted(message, false);
  return message.queueId;
}

function result(jobId: string, outcomes: Record<string, 'delivered' | 'temporary' | 'permanent'>, extra: Partial<DeliveryResult> = {}): DeliveryResult {
  return {
    queueId: jobId.slice(0, jobId.lastIndexOf('.')),
    jobId,
    results: Object.entries(outcomes).map(([recipient, outcome]) => ({ recipient, outcome, reply: outcome === 'delivered' ? '250 ok' : outcome === 'temporary' ? '451 later' : '550 no' })),
    ...extra,
  };
}

/** Hands the messages the core queued itself (notices) back to it, as the spool's consumer would. */
async function drainNotices(s: Setup): Promise<void> {
  for (const envelope of s.port.enqueued.splice(0)) await s.core.onAccepted(envelope, false);
}

const jobsTo = (s: Setup, domain: string) => s.port.jobs.filter((j) => j.job.domain === domain);
/** Entries in the queue, whether written to the bucket yet or still in their first attempt. */
const queued = (s: Setup, id: string) => s.core.show(id) !== undefined;
const noticesOf = (s: Setup, id: string) => s.core.list().filter((e) => e.bounceOf === id);

test('a message is one entry and one job per lane and domain; delivered at once, it never costs a bucket write', async () => {
  const s = setup();
  const id = await accept(s, ['a@local.test', 'b@local.test', 'c@remote.test'], ['a@local.test', 'b@local.test']);
  assert.deepEqual(
    s.port.jobs.map((j) => [j.lane, j.job.domain, j.job.recipients]),
    [
      ['local', 'local.test', ['a@local.test', 'b@local.test']],
      ['remote', 'remote.test', ['c@remote.test']],
    ],
  );
  assert.ok(queued(s, id));
  assert.equal(s.port.entries.size, 0, 'the first attempt runs from memory: its spool head is the durable record');
  for (const { job } of s.port.jobs) await s.core.onResult(result(job.jobId, Object.fromEntries(job.recipients.map((r) => [r, 'delivered']))));
  assert.equal(queued(s, id), false);
  assert.equal(s.port.entries.size, 0);
  assert.equal(s.port.messages.has(id), false, 'its bytes are gone with it');
});

test('local mail that waited for admission still runs from memory; a remote message that waited is written as it goes', async () => {
  const s = setup({ laneLimits: { local: 1, remote: 256 }, limits: { 'slow.test': { maxConnections: 1 } } });
  const local = [];
  for (let i = 0; i < 3; i++) local.push(await accept(s, [`u${i}@local.test`], [`u${i}@local.test`]));
  const localJobs = () => s.port.jobs.filter((j) => j.lane === 'local');
  assert.equal(localJobs().length, 1, 'the local lane takes one at a time: two wait in line');
  for (let i = 0; i < 3; i++) {
    const { job } = localJobs()[i]!;
    await s.core.onResult(result(job.jobId, { [job.recipients[0]!]: 'delivered' }));
  }
  assert.deepEqual(localJobs().map((j) => j.job.queueId), local, 'each went when the one before it answered');
  assert.equal(s.port.creates, 0, 'no bucket write for local mail, however long it waited in line');
  assert.ok(local.every((id) => !queued(s, id) && !s.port.messages.has(id)), 'all delivered and gone');
  const first = await accept(s, ['a@slow.test']);
  const second = await accept(s, ['b@slow.test']);
  assert.equal(s.port.creates, 0);
  await s.core.onResult(result(jobsTo(s, 'slow.test')[0]!.job.jobId, { 'a@slow.test': 'delivered' }));
  assert.equal(queued(s, first), false);
  assert.equal(jobsTo(s, 'slow.test').at(-1)?.job.queueId, second, 'b went when a answered');
  assert.equal(s.port.creates, 1, 'the remote message that waited is written as its job goes out');
  assert.ok(s.port.entries.has(second), 'a successor finds its job recorded and does not send it twice');
});

test('a slow remote domain holds its own slot only: local mail and other domains flow past 2,000 waiting messages', async () => {
  const s = setup({ limits: { 'slow.test': { maxConnections: 1 } } });
  for (let i = 0; i < 2000; i++) await accept(s, [`r${i}@slow.test`]);
  assert.equal(jobsTo(s, 'slow.test').length, 1, 'one job in flight to slow.test, the rest wait in queue-manager');
  const local = await accept(s, ['alice@local.test'], ['alice@local.test']);
  const healthy = [];
  for (let i = 0; i < 20; i++) healthy.push(await accept(s, [`h${i}@healthy.test`]));
  assert.ok(s.port.jobs.some((j) => j.job.queueId === local && j.lane === 'local'), 'the local message went out at once');
  assert.equal(jobsTo(s, 'healthy.test').length, 5, 'a healthy domain starts at its initial concurrency, beside slow.test');
  // Success widens the healthy domain's window; each result lets the next of its line go.
  for (let round = 0; round < 40 && jobsTo(s, 'healthy.test').length < 20; round++) {
    const open = jobsTo(s, 'healthy.test').filter((j) => queued(s, j.job.queueId));
    for (const { job } of open) await s.core.onResult(result(job.jobId, { [job.recipients[0]!]: 'delivered' }));
  }
  assert.equal(jobsTo(s, 'healthy.test').length, 20, 'all healthy mail went out');
  // slow.test: the next job goes only when the one in flight answers.
  const [first] = jobsTo(s, 'slow.test');
  await s.core.onResult(result(first!.job.jobId, { [first!.job.recipients[0]!]: 'delivered' }));
  assert.equal(jobsTo(s, 'slow.test').length, 2);
});

test('deliveries that empty their entries widen the destination window (success feedback reaches admission)', async () => {
  const s = setup();
  for (let i = 0; i < 20; i++) await accept(s, [`r${i}@wide.test`]);
  assert.equal(jobsTo(s, 'wide.test').length, 5, 'the initial window');
  const open = () => jobsTo(s, 'wide.test').filter((j) => queued(s, j.job.queueId));
  // Each success adds 1/window (qmgr's feedback): six of them take the window from 5 past 6.
  for (let i = 0; i < 6; i++) {
    const { job } = open()[0]!;
    await s.core.onResult(result(job.jobId, { [job.recipients[0]!]: 'delivered' }));
  }
  assert.equal(open().length, 6, 'six successes widened the window to six jobs in flight');
});

test('the rate limit of a domain lets jobs go as its window allows, counted once per job', async () => {
  const s = setup({ limits: { 'rated.test': { maxMessagesPerWindow: 2 } } });
  for (let i = 0; i < 5; i++) await accept(s, [`r${i}@rated.test`]);
  assert.equal(jobsTo(s, 'rated.test').length, 2);
  for (const { job } of jobsTo(s, 'rated.test')) await s.core.onResult(result(job.jobId, { [job.recipients[0]!]: 'delivered' }));
  assert.equal(jobsTo(s, 'rated.test').length, 2, 'slots are free, but the window is full');
  s.clock.now += MINUTE + 1;
  await s.core.pumpAll();
  assert.equal(jobsTo(s, 'rated.test').length, 4);
});

test('a temporary failure is retried when its step comes, by the clock alone', async () => {
  const s = setup();
  const id = await accept(s, ['x@remote.test']);
  const [job] = s.port.jobs;
  await s.core.onResult(result(job!.job.jobId, { 'x@remote.test': 'temporary' }));
  assert.equal(s.port.entries.get(id)?.entry.destinations[0]?.attempts, 1, 'a deferral is remembered: the entry is written');
  assert.equal(s.core.nextDue(), s.clock.now + MINUTE);
  s.clock.now += MINUTE - 1;
  assert.equal(await s.core.runDue(), 0);
  s.clock.now += 1;
  assert.equal(await s.core.runDue(), 1);
  assert.equal(s.port.jobs.length, 2);
  assert.equal(s.port.jobs[1]!.job.jobId, `${id}.1`, 'a new job id per attempt');
});

test('with 10,000 deferred entries loaded at start, one due in a minute fires on time and nothing else does', async () => {
  const port = new MemoryQueuePort();
  const clock = { now: 1_000_000 };
  for (let i = 0; i < 10_000; i++) {
    const entry = newEntry({ queueId: `D${String(i).padStart(8, '0')}`, sender: 's@x.test', recipients: [`r${i}@far${i % 50}.test`], localRecipients: new Set(), size: 1, receivedAt: clock.now, smtputf8: false });
    entry.destinations[0]!.attempts = 1;
    entry.destinations[0]!.nextAttemptAt = clock.now + (i === 1234 ? MINUTE : 60 * MINUTE);
    await port.create(entry);
  }
  const s = setup({ port, clock });
  s.core.load(port.entries.values());
  await s.core.activate();
  assert.equal(port.jobs.length, 0, 'nothing is due yet');
  assert.equal(s.core.nextDue(), clock.now + MINUTE);
  clock.now += MINUTE - 1;
  assert.equal(await s.core.runDue(), 0);
  clock.now += 1;
  assert.equal(await s.core.runDue(), 1, 'exactly the one entry due');
  assert.deepEqual(port.jobs.map((j) => j.job.queueId), ['D00001234']);
});

test('past its lifetime an entry fails and bounces on the clock alone, with no result arriving', async () => {
  const s = setup({ policy: { maxLifetimeMs: 10 * MINUTE } });
  const id = await accept(s, ['x@remote.test']);
  await s.core.onResult(result(s.port.jobs[0]!.job.jobId, { 'x@remote.test': 'temporary' }));
  s.clock.now += 5 * MINUTE; // the retry (1 min) went out and got no answer yet...
  await s.core.runDue();
  await s.core.onResult(result(s.port.jobs[1]!.job.jobId, { 'x@remote.test': 'temporary' }));
  s.clock.now += 5 * MINUTE; // ...the next would be due in 5 minutes, but the lifetime ends first
  assert.equal(await s.core.runDue(), 1);
  assert.equal(queued(s, id), false, 'gone from the queue');
  assert.equal(s.port.entries.has(id), false);
  await drainNotices(s);
  const [bounce] = noticesOf(s, id);
  assert.ok(bounce, 'a failure notice is queued');
  assert.equal(bounce.destinations[0]!.recipient, 'sender@elsewhere.test');
  assert.match(new TextDecoder().decode(s.port.messages.get(bounce.queueId)), /Action: failed/);
});

test('the delay warning goes out once, on time, with no other event', async () => {
  const s = setup({ policy: { delayWarningMs: 30 * MINUTE } });
  const id = await accept(s, ['x@remote.test']);
  await s.core.onResult(result(s.port.jobs[0]!.job.jobId, { 'x@remote.test': 'temporary' }));
  (s.policy as { remoteRetry: RetrySchedule }).remoteRetry = new RetrySchedule([DAY]);
  s.clock.now += MINUTE;
  await s.core.runDue();
  await s.core.onResult(result(s.port.jobs[1]!.job.jobId, { 'x@remote.test': 'temporary' }));
  s.clock.now += 30 * MINUTE;
  await s.core.runDue();
  await drainNotices(s);
  const notices = noticesOf(s, id);
  assert.equal(notices.length, 1);
  assert.match(new TextDecoder().decode(s.port.messages.get(notices[0]!.queueId)), /Action: delayed/);
  s.clock.now += 60 * MINUTE;
  await s.core.runDue();
  await drainNotices(s);
  assert.equal(noticesOf(s, id).length, 1, 'only once');
});

test('a job with no result within the job timeout is taken as lost: its slot comes back and it is tried again', async () => {
  const s = setup({ limits: { 'one.test': { maxConnections: 1 } }, policy: { jobTimeoutMs: 10 * MINUTE } });
  await accept(s, ['a@one.test']);
  await accept(s, ['b@one.test']);
  assert.equal(jobsTo(s, 'one.test').length, 1);
  s.clock.now += 10 * MINUTE;
  await s.core.runDue();
  for (let i = 0; i < 10 && jobsTo(s, 'one.test').length < 2; i++) await new Promise((r) => setImmediate(r));
  assert.equal(jobsTo(s, 'one.test').length, 2, 'the slot went to the waiting message');
  assert.equal(jobsTo(s, 'one.test')[1]!.job.recipients[0], 'b@one.test');
  // The lost job's late "delivered" still counts; a late "temporary" of a superseded job does not.
  const lost = jobsTo(s, 'one.test')[0]!.job;
  await s.core.onResult(result(lost.jobId, { 'a@one.test': 'delivered' }));
  assert.equal(s.core.show(lost.queueId), undefined, 'delivered late, removed');
});

test('an entry whose write fails (broker away) gives its admission slot back and is tried again soon', async () => {
  const s = setup({ limits: { 'one.test': { maxConnections: 1 } } });
  // Remote: a remote message that waited is written as it goes (local mail stays in memory).
  await accept(s, ['a@one.test']);
  await accept(s, ['b@one.test']);
  assert.equal(jobsTo(s, 'one.test').length, 1, 'b waits: one.test takes one connection');
  const first = jobsTo(s, 'one.test')[0]!.job;
  s.port.failWrites = 1; // b's write, when a's result lets it go
  await s.core.onResult(result(first.jobId, { 'a@one.test': 'delivered' })).catch(() => undefined);
  assert.equal(jobsTo(s, 'one.test').length, 1, 'not sent: its entry could not be written');
  s.clock.now += 2000;
  await s.core.runDue();
  for (let i = 0; i < 10 && jobsTo(s, 'one.test').length < 2; i++) await new Promise((r) => setImmediate(r));
  assert.equal(jobsTo(s, 'one.test').length, 2, 'b went once the write succeeded: the slot was not lost');
});

test('a local job is taken as lost after the local job timeout, a remote one only after its own', async () => {
  const s = setup();
  await accept(s, ['alice@local.test'], ['alice@local.test']);
  await accept(s, ['bob@remote.test']);
  assert.equal(jobsTo(s, 'local.test').length, 1);
  assert.equal(jobsTo(s, 'remote.test').length, 1);
  s.clock.now += 2 * MINUTE;
  await s.core.runDue();
  for (let i = 0; i < 10 && jobsTo(s, 'local.test').length < 2; i++) await new Promise((r) => setImmediate(r));
  s.clock.now += 5000; // the local retry schedule's first step
  await s.core.runDue();
  for (let i = 0; i < 10 && jobsTo(s, 'local.test').length < 2; i++) await new Promise((r) => setImmediate(r));
  assert.equal(jobsTo(s, 'local.test').length, 2, 'the lost local job was sent again');
  assert.equal(jobsTo(s, 'remote.test').length, 1, 'the remote job is still given its time');
});

test('every job ends in a result or a re-queue: a job whose spool bytes are gone removes a ghost entry', async () => {
  const s = setup();
  const id = await accept(s, ['x@remote.test']);
  s.port.messages.delete(id);
  await s.core.onResult({ queueId: id, jobId: s.port.jobs[0]!.job.jobId, results: [], spoolMissing: true });
  assert.equal(queued(s, id), false);
});

test('a late redelivery of an accepted event for a message already gone creates no ghost entry', async () => {
  const s = setup();
  const message = accepted(['x@remote.test']);
  s.port.messages.set(message.queueId, new Uint8Array(1));
  await s.core.activate();
  await s.core.onAccepted(message, false);
  await s.core.onResult(result(s.port.jobs[0]!.job.jobId, { 'x@remote.test': 'delivered' }));
  assert.equal(s.core.size, 0);
  await s.core.onAccepted(message, true);
  assert.equal(s.core.size, 0, 'no entry made again');
});

test('messages accepted side by side publish each job once', async () => {
  const s = setup();
  await s.core.activate();
  const messages = Array.from({ length: 50 }, (_, i) => accepted([`r${i}@local.test`], [`r${i}@local.test`]));
  for (const m of messages) s.port.messages.set(m.queueId, new Uint8Array(1));
  await Promise.all(messages.map((m) => s.core.onAccepted(m, false)));
  assert.equal(s.port.jobs.length, 50);
  assert.equal(s.port.publishAttempts, 50, 'no flush publishes the jobs of another entry again');
});

test('a repeated accepted event publishes the recorded jobs again, under the same ids', async () => {
  const s = setup();
  const message = accepted(['x@remote.test']);
  s.port.messages.set(message.queueId, new Uint8Array(1));
  await s.core.activate();
  s.port.failPublishes = 1;
  await s.core.onAccepted(message, false);
  assert.equal(s.port.jobs.length, 0, 'the publish failed');
  await s.core.onAccepted(message, true);
  assert.equal(s.port.jobs.length, 1);
  assert.equal(s.port.jobs[0]!.job.jobId, `${message.queueId}.0`);
});

test('a new owner takes over the jobs in flight (counted against their destinations) and the deferred entries', async () => {
  const port = new MemoryQueuePort();
  const clock = { now: 1_000_000 };
  const first = setup({ port, clock, limits: { 'one.test': { maxConnections: 1 } } });
  await accept(first, ['a@one.test']);
  await accept(first, ['b@one.test']);
  const deferred = await accept(first, ['c@other.test']);
  await first.core.onResult(result(port.jobs.find((j) => j.job.queueId === deferred)!.job.jobId, { 'c@other.test': 'temporary' }));
  // A stored entry with a job out: the deferred one, retried, its retry still unanswered.
  clock.now += MINUTE;
  await first.core.runDue();
  first.core.deactivate(); // the process dies
  const retryOut = port.jobs.filter((j) => j.job.queueId === deferred).length;
  assert.equal(retryOut, 2);
  const second = setup({ port, clock, limits: { 'one.test': { maxConnections: 1 } } });
  second.core.load(port.entries.values());
  await second.core.activate();
  assert.equal(port.jobs.filter((j) => j.job.queueId === deferred).length, retryOut, 'a recorded job is not sent twice');
  // a and b were in their first attempt, in the first owner's memory only: found again in the spool.
  const [a0, a1] = jobsTo(second, 'one.test');
  assert.equal(a1?.job.recipients[0], 'a@one.test', 'a goes again under a fresh job id (delivery is idempotent)');
  assert.notEqual(a1!.job.jobId, a0!.job.jobId);
  assert.equal(jobsTo(second, 'one.test').length, 2, 'b still waits: one.test takes one at a time');
  // The predecessor's job answers first: "delivered" counts from any job, and its slot goes to b.
  await second.core.onResult(result(a0!.job.jobId, { 'a@one.test': 'delivered' }));
  for (let i = 0; i < 10 && jobsTo(second, 'one.test').length < 3; i++) await new Promise((r) => setImmediate(r));
  assert.equal(jobsTo(second, 'one.test').at(-1)?.job.recipients[0], 'b@one.test', 'the freed slot goes to b');
});

test('held entries are not attempted until released; delete with bounce reports the undelivered', async () => {
  const s = setup();
  const id = await accept(s, ['x@remote.test']);
  await s.core.hold(id, true);
  await s.core.onResult(result(s.port.jobs[0]!.job.jobId, { 'x@remote.test': 'temporary' }));
  s.clock.now += DAY;
  await s.core.runDue();
  assert.equal(s.port.jobs.length, 1, 'no attempt while held');
  await s.core.hold(id, false);
  assert.equal(s.port.jobs.length, 2, 'released: attempted at once');
  await s.core.delete(id, true);
  await drainNotices(s);
  assert.equal(queued(s, id), false);
  assert.equal(s.port.entries.has(id), false);
  assert.equal(noticesOf(s, id).length, 1);
});

test('a local deferral (mailbox-store down) retries on the short local schedule', async () => {
  const s = setup();
  await accept(s, ['alice@local.test'], ['alice@local.test']);
  await s.core.onResult(result(s.port.jobs[0]!.job.jobId, { 'alice@local.test': 'temporary' }));
  s.clock.now += 5000;
  await s.core.runDue();
  assert.equal(s.port.jobs.length, 2);
  assert.equal(s.port.jobs[1]!.lane, 'local');
});

test('a notice to a local sender takes the local lane', async () => {
  const s = setup();
  await accept(s, ['alice@local.test'], ['alice@local.test']);
  const id = await accept(s, ['nobody@remote.test'], [], 'alice@local.test');
  await s.core.onResult(result(s.port.jobs.find((j) => j.job.queueId === id)!.job.jobId, { 'nobody@remote.test': 'permanent' }));
  await drainNotices(s);
  const notice = s.port.jobs.find((j) => j.job.recipients[0] === 'alice@local.test' && j.job.sender === '');
  assert.equal(notice?.lane, 'local');
});

test('deleting an entry whose job is out frees its slot for the next in line', async () => {
  const s = setup({ limits: { 'one.test': { maxConnections: 1 } } });
  const first = await accept(s, ['a@one.test']);
  await accept(s, ['b@one.test']);
  assert.equal(jobsTo(s, 'one.test').length, 1);
  await s.core.delete(first, false);
  for (let i = 0; i < 10 && jobsTo(s, 'one.test').length < 2; i++) await new Promise((r) => setImmediate(r));
  assert.equal(jobsTo(s, 'one.test').length, 2, 'b went out');
  assert.equal(jobsTo(s, 'one.test')[1]!.job.recipients[0], 'b@one.test');
});

test('the spool reconciliation plans a spooled message that has no entry (a takeover read that came back short), once, and leaves gone ones alone', async () => {
  const s = setup();
  await s.core.activate();
  // Spooled while this replica's read of the heads missed it: the spool has it, the queue does not.
  const stranded = accepted(['x@remote.test']);
  s.port.messages.set(stranded.queueId, new Uint8Array(1));
  s.port.envelopes.set(stranded.queueId, stranded);
  assert.equal(queued(s, stranded.queueId), false);
  assert.equal(await s.core.reconcileSpool(), 1);
  assert.equal(queued(s, stranded.queueId), true);
  assert.equal(s.port.jobs.filter((j) => j.job.queueId === stranded.queueId).length, 1, 'its job went out');
  assert.equal(await s.core.reconcileSpool(), 0, 'known now: not planned twice');
  // Delivered and removed meanwhile: nothing is made again.
  await s.core.onResult(result(s.port.jobs.find((j) => j.job.queueId === stranded.queueId)!.job.jobId, { 'x@remote.test': 'delivered' }));
  assert.equal(queued(s, stranded.queueId), false);
  assert.equal(await s.core.reconcileSpool(), 0);
  assert.equal(queued(s, stranded.queueId), false);
});

test('a finished message whose spool removal was lost is removed again when found, not delivered twice', async () => {
  const s = setup();
  const id = await accept(s, ['x@remote.test']);
  s.port.loseDeletes = 1;
  await s.core.onResult(result(s.port.jobs[0]!.job.jobId, { 'x@remote.test': 'delivered' }));
  assert.equal(queued(s, id), false);
  assert.equal(s.port.messages.has(id), true, 'the removal was lost: the spool still holds it');
  // Found again by the spool's read (and likewise by a redelivered head): removed, not planned.
  assert.equal(await s.core.reconcileSpool(), 0);
  assert.equal(s.port.messages.has(id), false, 'removed again');
  s.port.loseDeletes = 1;
  await s.core.onAccepted(s.port.envelopes.get(id)!, true);
  assert.equal(queued(s, id), false);
  assert.equal(s.port.jobs.filter((j) => j.job.queueId === id).length, 1, 'one job ever: not delivered twice');
});
