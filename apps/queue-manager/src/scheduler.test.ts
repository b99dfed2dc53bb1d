// planJobs: one delivery job per destination domain and attempt, only for destinations pending and due.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueEntry, type Destination } from '@mail/contracts';
import { planJobs } from './scheduler.js';

// Built through the contract's schema, so fields with defaults are filled in as queue-manager stores them.
const destination = (recipient: string, state: Destination['state'] = 'pending') => ({
  recipient,
  state,
  attempts: state === 'pending' ? 0 : 1,
});

const entry = (destinations: ReturnType<typeof destination>[], smtputf8 = false): QueueEntry =>
  QueueEntry.parse({
    queueId: 'Q42',
    sender: 'sender@remote.example',
    size: 1234,
    receivedAt: 1_700_000_000_000,
    smtputf8,
    destinations,
  });

/** The parts of a job that say who gets what, in one transaction. */
const summary = (jobs: ReturnType<typeof planJobs>) =>
  jobs.map(({ queueId, jobId, sender, recipients, smtputf8 }) => ({ queueId, jobId, sender, recipients, smtputf8 }));

test('recipients are grouped into one job per domain', () => {
  const jobs = planJobs(
    entry([destination('alice@example.com'), destination('carol@other.example'), destination('bob@example.com')]),
  );
  assert.deepEqual(summary(jobs), [
    { queueId: 'Q42', jobId: 'Q42.example.com.0', sender: 'sender@remote.example', recipients: ['alice@example.com', 'bob@example.com'], smtputf8: false },
    { queueId: 'Q42', jobId: 'Q42.other.example.0', sender: 'sender@remote.example', recipients: ['carol@other.example'], smtputf8: false },
  ]);
});

test('domains are grouped case-insensitively and recipients keep their spelling', () => {
  const jobs = planJobs(entry([destination('Alice@Example.COM'), destination('bob@example.com')]));
  assert.equal(jobs.length, 1);
  assert.equal(jobs[0]!.jobId, 'Q42.example.com.0');
  assert.deepEqual(jobs[0]!.recipients, ['Alice@Example.COM', 'bob@example.com']);
});

test('delivered and failed destinations are not planned again', () => {
  const jobs = planJobs(
    entry([
      destination('alice@example.com', 'delivered'),
      destination('bob@example.com'),
      destination('carol@other.example', 'failed'),
    ]),
  );
  assert.deepEqual(
    jobs.map((j) => [j.jobId, j.recipients]),
    [['Q42.example.com.0', ['bob@example.com']]],
  );
});

test('an entry with every destination settled plans no job', () => {
  assert.deepEqual(planJobs(entry([destination('alice@example.com', 'delivered'), destination('bob@x.example', 'failed')])), []);
  assert.deepEqual(planJobs(entry([])), []);
});

test('a job carries the sender and the SMTPUTF8 flag of its message', () => {
  const [job] = planJobs({ ...entry([destination('jösé@example.com')], true), sender: '' });
  assert.deepEqual(job!.recipients, ['jösé@example.com']);
  assert.equal(job!.sender, '');
  assert.equal(job!.smtputf8, true);
});

test('the same entry always gives the same job ids (so a republish is deduplicated)', () => {
  const e = entry([destination('alice@example.com'), destination('carol@other.example')]);
  assert.deepEqual(planJobs(e), planJobs(structuredClone(e)));
});

test('a retry is a new job: the attempt number is part of the job id', () => {
  const e = entry([{ ...destination('alice@example.com'), attempts: 2 }]);
  assert.equal(planJobs(e)[0]!.jobId, 'Q42.example.com.2');
});

test('destinations not yet due are left for later', () => {
  const e = QueueEntry.parse({
    queueId: 'Q42',
    sender: 's@remote.example',
    size: 1,
    receivedAt: 0,
    smtputf8: false,
    destinations: [
      { recipient: 'a@example.com', state: 'pending', attempts: 1, nextAttemptAt: 5_000 },
      { recipient: 'b@other.example', state: 'pending', attempts: 1, nextAttemptAt: 1_000 },
    ],
  });
  assert.deepEqual(planJobs(e, 2_000).map((j) => j.recipients), [['b@other.example']]);
  assert.deepEqual(planJobs(e, 5_000).map((j) => j.domain), ['example.com', 'other.example']);
});
