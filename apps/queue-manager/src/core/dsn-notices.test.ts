// Which notices the queue sends for the DSN request a sender made (RFC 3461), on the in-memory port with a
// fake clock: NOTIFY per recipient (absent: FAILURE and DELAY), success notices after local delivery or a
// relay without DSN (none when the next hop took the request), RET, ENVID and ORCPT in the reports,
// recipients of one outcome in one report, the request passed on in jobs, and never a notice for <>;
// and the care RFC 8689 §5 asks for notices about mail sent with REQUIRETLS.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { pino } from 'pino';
import { AcceptedMessage, type DeliveryResult, type RecipientDsn, type RecipientResult } from '@mail/contracts';
import { parseMessage } from '@mail/mime';
import { QueueEvents, type QueueEvent } from '../events.js';
import { RetrySchedule } from '../retry-schedule.js';
import { Admission } from './admission.js';
import { notifies, successActionOf, takeNotices, type QueuePolicy } from './decisions.js';
import { newEntry, type Destination } from './entry.js';
import { MemoryQueuePort } from './queue-port.js';
import { QueueCore } from './queue-core.js';

const MINUTE = 60_000;
const ORIGINAL = 'From: alice@local.test\r\nSubject: the original\r\nMessage-ID: <orig@local.test>\r\n\r\nsecret body text\r\n';

function setup(policy: Partial<QueuePolicy> = {}) {
  const clock = { now: 1_000_000 };
  const port = new MemoryQueuePort();
  const events: QueueEvent[] = [];
  const log = new QueueEvents(pino({ level: 'silent' }));
  const emit = log.emit.bind(log);
  log.emit = (event: QueueEvent) => {
    events.push(event);
    emit(event);
  };
  const admission = new Admission({ limitsFor: () => ({ maxConnections: 10, maxMessagesPerWindow: 0, windowMs: MINUTE }), laneLimits: { local: 64, remote: 256 }, initialConcurrency: 5 }, () => clock.now);
  const fullPolicy: QueuePolicy = {
    remoteRetry: new RetrySchedule([MINUTE]),
    localRetry: new RetrySchedule([5000]),
    maxLifetimeMs: 24 * 60 * MINUTE,
    delayWarningMs: 0,
    jobTimeoutMs: 15 * MINUTE,
    localJobTimeoutMs: 2 * MINUTE,
    ...policy,
  };
  const core = new QueueCore(port, { policy: fullPolicy, admission, events: log, reportingMta: 'mx.test', now: () => clock.now });
  return { core, port, clock, events };
}
type Setup = ReturnType<typeof setup>;

let counter = 0;
async function accept(
  s: Setup,
  recipients: string[],
  options: { local?: string[]; sender?: string; dsn?: RecipientDsn[]; ret?: 'FULL' | 'HDRS'; envid?: string; message?: string; requireTls?: boolean } = {},
): Promise<string> {
  const queueId = `D${String(++counter).padStart(8, '0')}`;
  // The schema's defaults fill in what these tests leave alone.
  const message = AcceptedMessage.parse({
    queueId,
    sender: options.sender ?? 'alice@local.test',
    recipients,
    localRecipients: options.local ?? [],
    size: 10,
    receivedAt: s.clock.now,
    ...(options.ret ? { ret: options.ret } : {}),
    ...(options.envid !== undefined ? { envid: options.envid } : {}),
    ...(options.dsn ? { recipientDsn: options.dsn } : {}),
    ...(options.requireTls ? { requireTls: true } : {}),
  });
  await s.core.activate();
  s.port.messages.set(queueId, new TextEncoder().encode(options.message ?? ORIGINAL));
  s.port.envelopes.set(queueId, message);
  await s.core.onAccepted(message, false);
  return queueId;
}

/** Answers the job that carries `recipient` with these outcomes (and handoffs, and replies other than the usual). */
async function answer(s: Setup, queueId: string, outcomes: Record<string, ['delivered' | 'temporary' | 'permanent', RecipientResult['handoff']?, string?]>): Promise<void> {
  const jobs = s.port.jobs.filter((j) => j.job.queueId === queueId);
  for (const { job } of jobs) {
    const mine = job.recipients.filter((r) => r in outcomes);
    if (mine.length === 0) continue;
    const result: DeliveryResult = {
      queueId,
      jobId: job.jobId,
      results: mine.map((recipient) => {
        const [outcome, handoff, given] = outcomes[recipient]!;
        const reply = given ?? (outcome === 'delivered' ? '250 2.0.0 ok' : outcome === 'temporary' ? '451 4.4.1 later' : '550 5.1.1 no such user');
        return { recipient, outcome, reply, remoteMta: 'mx.remote.test', ...(handoff ? { handoff } : {}) };
      }),
    };
    await s.core.onResult(result);
  }
}

/** The notices queued about `queueId`: their action(s) and their text. */
function notices(s: Setup, queueId: string): { actions: string[]; text: string; recipients: string[] }[] {
  return s.port.enqueued
    .filter((e) => e.bounceOf === queueId)
    .map((e) => {
      const text = new TextDecoder().decode(s.port.messages.get(e.queueId));
      return { actions: [...text.matchAll(/^Action: (\w+)/gm)].map((m) => m[1]!), text, recipients: [...text.matchAll(/^Final-Recipient: rfc822; (\S+)/gm)].map((m) => m[1]!) };
    });
}

test('NOTIFY as the decisions read it: its conditions, or by default FAILURE and DELAY but not SUCCESS', () => {
  const d = (notify?: Destination['notify']) => ({ notify }) as Destination;
  assert.deepEqual((['SUCCESS', 'FAILURE', 'DELAY'] as const).map((c) => notifies(d(), c)), [false, true, true]);
  assert.deepEqual((['SUCCESS', 'FAILURE', 'DELAY'] as const).map((c) => notifies(d(['NEVER']), c)), [false, false, false]);
  assert.deepEqual((['SUCCESS', 'FAILURE', 'DELAY'] as const).map((c) => notifies(d(['SUCCESS']), c)), [true, false, false]);
  const delivered = (handoff: Destination['handoff'], local = false) => ({ handoff, local }) as Destination;
  assert.equal(successActionOf(delivered('mailbox')), 'delivered');
  assert.equal(successActionOf(delivered('relayed-without-dsn')), 'relayed');
  assert.equal(successActionOf(delivered('relayed-with-dsn')), undefined, 'the next hop reports');
  assert.equal(successActionOf(delivered(undefined, true)), 'delivered', 'an older delivery-agent, local lane');
  assert.equal(successActionOf(delivered(undefined, false)), 'relayed', 'an older delivery-agent, remote lane');
});

test('a failure with NOTIFY=NEVER is marked taken with no notice, and is said in the log', () => {
  const entry = newEntry({ queueId: 'Q', sender: 'a@b', recipients: ['x@r', 'y@r'], localRecipients: new Set(), size: 1, receivedAt: 0, smtputf8: false, recipientDsn: [{ recipient: 'x@r', notify: ['NEVER'] }] });
  for (const d of entry.destinations) d.state = 'failed';
  const taken = takeNotices(entry, 0, { delayWarningMs: 0 } as QueuePolicy);
  assert.deepEqual(taken.failed.map((d) => d.recipient), ['y@r']);
  assert.deepEqual(taken.unreported, ['x@r']);
  assert.equal(taken.marked, true);
  assert.deepEqual(entry.destinations.map((d) => d.reported), [true, true]);
  assert.equal(takeNotices(entry, 0, { delayWarningMs: 0 } as QueuePolicy).marked, false, 'nothing owed twice');
});

test('NOTIFY=SUCCESS: local delivery gets a "delivered" notice with ENVID and ORCPT; default recipients get none', async () => {
  const s = setup();
  const id = await accept(s, ['bob@local.test', 'carol@local.test'], {
    local: ['bob@local.test', 'carol@local.test'],
    envid: 'abc',
    ret: 'HDRS',
    dsn: [{ recipient: 'bob@local.test', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;x@y' }],
  });
  await answer(s, id, { 'bob@local.test': ['delivered', 'mailbox'], 'carol@local.test': ['delivered', 'mailbox'] });
  const [notice, ...more] = notices(s, id);
  assert.equal(more.length, 0, 'one notice');
  assert.deepEqual(notice!.actions, ['delivered']);
  assert.deepEqual(notice!.recipients, ['bob@local.test']);
  assert.match(notice!.text, /^Original-Envelope-Id: abc\r$/m);
  assert.match(notice!.text, /^Original-Recipient: rfc822; x@y\r$/m);
  assert.match(notice!.text, /^Status: 2\.0\.0\r$/m);
  assert.match(notice!.text, /^Subject: Successful Mail Delivery Report\r$/m);
  assert.equal(s.port.enqueued.find((e) => e.bounceOf === id)!.sender, '', 'sent from <>');
  assert.equal(s.core.show(id), undefined, 'and the message left the queue');
});

test('NOTIFY=SUCCESS to a remote server: "relayed" when it took no DSN request, nothing when it did', async () => {
  const s = setup();
  const dsn: RecipientDsn[] = [
    { recipient: 'a@plain.test', notify: ['SUCCESS'] },
    { recipient: 'b@dsn.test', notify: ['SUCCESS'] },
  ];
  const id = await accept(s, ['a@plain.test', 'b@dsn.test'], { dsn });
  await answer(s, id, { 'a@plain.test': ['delivered', 'relayed-without-dsn'], 'b@dsn.test': ['delivered', 'relayed-with-dsn'] });
  const all = notices(s, id);
  assert.equal(all.length, 1);
  assert.deepEqual(all[0]!.actions, ['relayed']);
  assert.deepEqual(all[0]!.recipients, ['a@plain.test']);
  assert.match(all[0]!.text, /Remote-MTA: dns; mx\.remote\.test/);
  assert.match(all[0]!.text, /does not send delivery notifications/);
});

test('the DSN request travels with the job: RET and ENVID, NOTIFY and ORCPT of the job\'s own recipients only', async () => {
  const s = setup();
  const id = await accept(s, ['a@one.test', 'b@one.test', 'c@two.test'], {
    ret: 'FULL',
    envid: 'E 1',
    dsn: [
      { recipient: 'a@one.test', notify: ['SUCCESS'], orcpt: 'rfc822;old-a@x' },
      { recipient: 'c@two.test', notify: ['NEVER'] },
    ],
  });
  const one = s.port.jobs.find((j) => j.job.queueId === id && j.job.domain === 'one.test')!.job;
  const two = s.port.jobs.find((j) => j.job.queueId === id && j.job.domain === 'two.test')!.job;
  assert.deepEqual([one.ret, one.envid, one.recipientDsn], ['FULL', 'E 1', [{ recipient: 'a@one.test', notify: ['SUCCESS'], orcpt: 'rfc822;old-a@x' }]]);
  assert.deepEqual(two.recipientDsn, [{ recipient: 'c@two.test', notify: ['NEVER'] }]);
  const plain = await accept(s, ['d@three.test']);
  const job = s.port.jobs.find((j) => j.job.queueId === plain)!.job;
  assert.deepEqual([job.ret, job.envid, job.recipientDsn], [undefined, undefined, undefined], 'no request, nothing in the job');
});

test('failures: one report for the recipients that fail together and want it; NEVER gets none', async () => {
  const s = setup();
  const id = await accept(s, ['a@r.test', 'b@r.test', 'c@r.test', 'd@r.test'], {
    envid: 'env-9',
    dsn: [
      { recipient: 'a@r.test', notify: ['NEVER'] },
      { recipient: 'b@r.test', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;b-old@r.test' },
      { recipient: 'c@r.test', notify: ['SUCCESS'] },
    ],
  });
  await answer(s, id, { 'a@r.test': ['permanent'], 'b@r.test': ['permanent'], 'c@r.test': ['permanent'], 'd@r.test': ['permanent'] });
  const all = notices(s, id);
  assert.equal(all.length, 1, 'one report');
  assert.deepEqual(all[0]!.recipients, ['b@r.test', 'd@r.test'], 'FAILURE asked for, or NOTIFY absent (the default)');
  assert.deepEqual(all[0]!.actions, ['failed', 'failed']);
  assert.match(all[0]!.text, /^Original-Envelope-Id: env-9\r$/m);
  assert.match(all[0]!.text, /^Original-Recipient: rfc822; b-old@r\.test\r\nFinal-Recipient: rfc822; b@r\.test\r$/m);
  const suppressed = s.events.filter((e) => e.event === 'notice-suppressed');
  assert.deepEqual(suppressed.map((e) => e.event === 'notice-suppressed' && [e.reason, e.recipients]), [['notify', ['a@r.test', 'c@r.test']]]);
});

test('NOTIFY=NEVER for every recipient: a failing message produces no notice at all', async () => {
  const s = setup();
  const id = await accept(s, ['a@r.test'], { dsn: [{ recipient: 'a@r.test', notify: ['NEVER'] }] });
  await answer(s, id, { 'a@r.test': ['permanent'] });
  assert.equal(notices(s, id).length, 0);
  assert.equal(s.core.show(id), undefined, 'the message left the queue');
});

test('RET=FULL returns the whole message in a failure report; RET=HDRS and no RET only its header section', async () => {
  for (const [ret, part, body] of [
    ['FULL', 'message/rfc822', true],
    ['HDRS', 'text/rfc822-headers', false],
    [undefined, 'text/rfc822-headers', false],
  ] as const) {
    const s = setup();
    const id = await accept(s, ['a@r.test'], ret ? { ret } : {});
    await answer(s, id, { 'a@r.test': ['permanent'] });
    const [notice] = notices(s, id);
    const parsed = parseMessage(new TextEncoder().encode(notice!.text));
    assert.deepEqual(parsed.root.children.map((c) => c.contentType.mimeType), ['text/plain', 'message/delivery-status', part], `RET=${ret}`);
    assert.equal(notice!.text.includes('secret body text'), body, `RET=${ret}: body returned`);
    assert.match(notice!.text, /Subject: the original/);
  }
});

test('RET=FULL does not apply to success notices: they return the header section only', async () => {
  const s = setup();
  const id = await accept(s, ['bob@local.test'], { local: ['bob@local.test'], ret: 'FULL', dsn: [{ recipient: 'bob@local.test', notify: ['SUCCESS'] }] });
  await answer(s, id, { 'bob@local.test': ['delivered', 'mailbox'] });
  const [notice] = notices(s, id);
  assert.match(notice!.text, /text\/rfc822-headers/);
  assert.doesNotMatch(notice!.text, /secret body text/);
});

test('delay warnings go only to the recipients whose NOTIFY allows DELAY, in one report', async () => {
  const s = setup({ delayWarningMs: 30 * MINUTE, remoteRetry: new RetrySchedule([24 * 60 * MINUTE]) });
  const id = await accept(s, ['a@r.test', 'b@r.test', 'c@r.test'], {
    dsn: [
      { recipient: 'a@r.test', notify: ['FAILURE'] },
      { recipient: 'b@r.test', notify: ['DELAY'] },
    ],
  });
  await answer(s, id, { 'a@r.test': ['temporary'], 'b@r.test': ['temporary'], 'c@r.test': ['temporary'] });
  s.clock.now += 30 * MINUTE;
  await s.core.runDue();
  const all = notices(s, id);
  assert.equal(all.length, 1);
  assert.deepEqual(all[0]!.actions, ['delayed', 'delayed']);
  assert.deepEqual(all[0]!.recipients, ['b@r.test', 'c@r.test']);
});

test('no recipient wants the delay warning: none is sent, and it is not looked for again', async () => {
  const s = setup({ delayWarningMs: 30 * MINUTE, remoteRetry: new RetrySchedule([24 * 60 * MINUTE]) });
  const id = await accept(s, ['a@r.test'], { dsn: [{ recipient: 'a@r.test', notify: ['FAILURE'] }] });
  await answer(s, id, { 'a@r.test': ['temporary'] });
  s.clock.now += 30 * MINUTE;
  await s.core.runDue();
  assert.equal(notices(s, id).length, 0);
  assert.equal(s.core.show(id)!.delayWarned, true);
  assert.equal(s.port.entries.get(id)!.entry.delayWarned, true, 'written, so a successor does not warn either');
});

test('a message from <> gets no notice whatever NOTIFY says, success included', async () => {
  const s = setup();
  const id = await accept(s, ['bob@local.test', 'x@r.test'], {
    sender: '',
    local: ['bob@local.test'],
    dsn: [
      { recipient: 'bob@local.test', notify: ['SUCCESS'] },
      { recipient: 'x@r.test', notify: ['SUCCESS', 'FAILURE'] },
    ],
  });
  await answer(s, id, { 'bob@local.test': ['delivered', 'mailbox'], 'x@r.test': ['permanent'] });
  assert.equal(notices(s, id).length, 0);
  assert.equal(s.core.show(id), undefined);
});

test('outcomes that come apart get a report each, as they fall: success now, failure later', async () => {
  const s = setup();
  const id = await accept(s, ['bob@local.test', 'x@r.test'], {
    local: ['bob@local.test'],
    dsn: [
      { recipient: 'bob@local.test', notify: ['SUCCESS'] },
      { recipient: 'x@r.test', notify: ['SUCCESS', 'FAILURE'] },
    ],
  });
  await answer(s, id, { 'bob@local.test': ['delivered', 'mailbox'], 'x@r.test': ['temporary'] });
  assert.deepEqual(notices(s, id).map((n) => n.actions), [['delivered']]);
  assert.equal(s.port.entries.get(id)!.entry.destinations.find((d) => d.recipient === 'bob@local.test')!.reported, true, 'the notice is remembered with the entry');
  s.clock.now += MINUTE;
  await s.core.runDue();
  await answer(s, id, { 'x@r.test': ['permanent'] });
  assert.deepEqual(notices(s, id).map((n) => n.actions), [['delivered'], ['failed']]);
});

// ---- RFC 8689 §5: notices about mail sent with REQUIRETLS.

const REQUIRETLS_REFUSED = '550 5.7.30 mx.sender.test does not offer REQUIRETLS, which this message requires';

/** A message sent with REQUIRETLS (RET=FULL asked for) fails; its notice is handed to the core as the spool would. */
async function failedRequireTlsMessage(s: Setup) {
  const id = await accept(s, ['a@r.test'], { sender: 'alice@sender.test', ret: 'FULL', requireTls: true });
  await answer(s, id, { 'a@r.test': ['permanent', undefined, '550 5.7.30 REQUIRETLS: r.test has no MTA-STS policy in enforce mode'] });
  const envelope = s.port.enqueued.find((e) => e.bounceOf === id)!;
  await s.core.onAccepted(envelope, false);
  return { id, envelope };
}

test('a notice about a REQUIRETLS message is sent with REQUIRETLS, and RET=FULL is disregarded: the header section only', async () => {
  const s = setup();
  const { id, envelope } = await failedRequireTlsMessage(s);
  assert.equal(envelope.requireTls, true, 'REQUIRETLS in the notice\'s envelope: delivery-agent holds it to the same rules');
  assert.equal(envelope.sender, '');
  const [notice] = notices(s, id);
  const parsed = parseMessage(new TextEncoder().encode(notice!.text));
  assert.deepEqual(parsed.root.children.map((c) => c.contentType.mimeType), ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
  assert.match(notice!.text, /Subject: the original/);
  assert.doesNotMatch(notice!.text, /secret body text/, 'RET=FULL disregarded');
  assert.ok(s.events.some((e) => e.event === 'notice-queued' && e.requireTls));
  // The notice's own queue entry keeps the flag (a replica taking over plans it with REQUIRETLS too).
  assert.equal(s.core.show(envelope.queueId)?.requireTls, true);
  const job = s.port.jobs.find((j) => j.job.queueId === envelope.queueId);
  assert.ok(job, 'the notice is sent');
});

test('the delay warning of a REQUIRETLS message is sent with REQUIRETLS too; a plain message\'s notices are not', async () => {
  const s = setup({ delayWarningMs: 30 * MINUTE, remoteRetry: new RetrySchedule([24 * 60 * MINUTE]) });
  const rtls = await accept(s, ['a@r.test'], { requireTls: true });
  const plain = await accept(s, ['b@r.test']);
  await answer(s, rtls, { 'a@r.test': ['temporary'] });
  await answer(s, plain, { 'b@r.test': ['temporary'] });
  s.clock.now += 30 * MINUTE;
  await s.core.runDue();
  assert.equal(s.port.enqueued.find((e) => e.bounceOf === rtls)!.requireTls, true);
  assert.equal(s.port.enqueued.find((e) => e.bounceOf === plain)!.requireTls, undefined);
  assert.deepEqual(notices(s, rtls)[0]!.actions, ['delayed']);
});

test('a notice refused for want of REQUIRETLS goes again without it and without the header section (RFC 8689 §5)', async () => {
  const s = setup();
  const { id, envelope } = await failedRequireTlsMessage(s);
  await answer(s, envelope.queueId, { 'alice@sender.test': ['permanent', undefined, REQUIRETLS_REFUSED] });

  const again = s.port.enqueued.filter((e) => e.bounceOf === id && e.queueId !== envelope.queueId);
  assert.equal(again.length, 1, 'one redacted copy');
  const [redacted] = again;
  assert.equal(redacted!.requireTls, undefined, 'not REQUIRETLS: it would be refused again');
  assert.equal(redacted!.sender, '');
  assert.deepEqual(redacted!.recipients, ['alice@sender.test']);
  const text = new TextDecoder().decode(s.port.messages.get(redacted!.queueId));
  const parsed = parseMessage(text);
  assert.deepEqual(parsed.root.children.map((c) => c.contentType.mimeType), ['text/plain', 'message/delivery-status'], 'no header section of the original');
  assert.doesNotMatch(text, /the original|orig@local\.test/);
  assert.match(text, /^Status: 5\.7\.30\r$/m, 'what happened to the message is still reported');
  assert.match(text, /^Final-Recipient: rfc822; a@r\.test\r$/m);
  assert.match(parsed.text ?? '', /without REQUIRETLS and without the header section of your message/);
  const event = s.events.find((e) => e.event === 'notice-redacted');
  assert.ok(event && event.event === 'notice-redacted' && event.noticeOf === envelope.queueId && event.reply === REQUIRETLS_REFUSED);
  assert.ok(!s.events.some((e) => e.event === 'notice-suppressed' && e.reason === 'null-sender'), 'not dropped');
  assert.equal(s.core.show(envelope.queueId), undefined, 'the refused notice left the queue');
});

test('a REQUIRETLS notice refused for another reason, or expired while REQUIRETLS could not be had, is handled as its kind', async () => {
  // Refused for another reason: a bounce does not bounce, and a redacted copy would fare no better.
  const s = setup();
  const { id, envelope } = await failedRequireTlsMessage(s);
  await answer(s, envelope.queueId, { 'alice@sender.test': ['permanent'] });
  assert.equal(s.port.enqueued.filter((e) => e.bounceOf === id).length, 1, 'nothing more sent');
  assert.ok(s.events.some((e) => e.event === 'notice-suppressed' && e.reason === 'null-sender'));

  // Deferred with 4.7.30 (the policy could not be had) until the notice expired: the redacted copy goes.
  const t = setup({ maxLifetimeMs: 60 * MINUTE });
  const second = await failedRequireTlsMessage(t);
  await answer(t, second.envelope.queueId, { 'alice@sender.test': ['temporary', undefined, '451 4.7.30 REQUIRETLS: the MTA-STS policy of sender.test cannot be had now'] });
  t.clock.now += 60 * MINUTE;
  await t.core.runDue();
  const redacted = t.port.enqueued.filter((e) => e.bounceOf === second.id && e.queueId !== second.envelope.queueId);
  assert.equal(redacted.length, 1);
  assert.equal(redacted[0]!.requireTls, undefined);
});
