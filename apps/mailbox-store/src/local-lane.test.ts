// The local lane over a real embedded store: a job's message read from the spool is delivered to each
// recipient and one result answered per job, whatever happened (here the spool is a stand-in: the
// broker side, requests and answers, is covered end to end in libs/testing's local-lane suite).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AcceptedMessage, DeliveryResult } from '@mail/contracts';
import type { Spool } from '@mail/platform';
import { LocalLane } from './local-lane.js';
import { createMailboxes } from './service.js';
import { quietLogger, THROTTLE } from './service.test-support.js';
import { EmbeddedStore } from './store/embedded-store.js';

const envelope = (queueId: string): AcceptedMessage =>
  ({ queueId, sender: 'a@remote.test', recipients: ['alice@example.test'], localRecipients: ['alice@example.test'], size: 0, receivedAt: 0, smtputf8: false, eightBitMime: false, binaryMime: false, clientAddress: '', submittedBy: '', bounceOf: '', chunks: 0, chunkSeqs: [] }) as AcceptedMessage;

test('local lane: each recipient delivered or refused, one result per job, a repeat stored once, a job without its message reported as such, one whose read failed deferred', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'local-lane-'));
  const store = await EmbeddedStore.open(dir, 1024 * 1024);
  try {
    await store.addDomain('example.test');
    await store.addAccount({ address: 'alice@example.test', passwordHash: 'x' });
    const spooled = new Map([
      ['Q1', Buffer.from('Subject: one\r\n\r\nbody\r\n')],
      ['Q2', Buffer.from('Subject: two\r\n\r\nbody\r\n')],
    ]);
    const spool = {
      readWithEnvelope: async (queueId: string) => {
        if (queueId === 'QX') throw new Error('no JetStream answer');
        return spooled.has(queueId) ? { envelope: envelope(queueId), message: spooled.get(queueId)! } : null;
      },
    } as unknown as Spool;
    const lane = new LocalLane(createMailboxes(store, quietLogger, { maxLeaseSeconds: 60, authThrottle: THROTTLE }), spool, 4);

    const job = { queueId: 'Q1', jobId: 'Q1.1', domain: 'example.test', sender: 'a@remote.test', recipients: ['alice@example.test', 'nobody@example.test'], smtputf8: false };
    const reported: DeliveryResult[] = (await lane.deliverBatch([job])).results;
    reported.push(...(await lane.deliverBatch([{ ...job, jobId: 'Q1.2', recipients: ['alice@example.test'] }, { ...job, queueId: 'Q9', jobId: 'Q9.1' }])).results); // Q1 sent again

    assert.equal(reported.length, 3, 'one result per job');
    const [first, again, missing] = reported;
    assert.deepEqual(first!.results.map((r) => [r.recipient, r.outcome]), [['alice@example.test', 'delivered'], ['nobody@example.test', 'permanent']]);
    assert.match(first!.results[0]!.reply!, /^250 2\.0\.0 delivered as \S+$/);
    assert.match(first!.results[1]!.reply!, /^550 5\.1\.1 /);
    assert.equal(again!.results[0]!.outcome, 'delivered');
    assert.match(again!.results[0]!.reply!, /\(already stored\)$/);
    assert.deepEqual(missing, { queueId: 'Q9', jobId: 'Q9.1', results: [], spoolMissing: true });
    assert.deepEqual(await lane.deliverBatch([{ ...job, queueId: 'Q2', jobId: 'Q2.1' }], Date.now() - 1), { results: [], expired: 1 }, 'a job whose sender stopped waiting is left undone (not stored: below)');
    const [unreadable] = (await lane.deliverBatch([{ ...job, queueId: 'QX', jobId: 'QX.1' }])).results;
    assert.deepEqual(
      unreadable!.results.map((r) => [r.recipient, r.outcome, r.reply]),
      job.recipients.map((recipient) => [recipient, 'temporary', '451 4.3.0 mailbox store unavailable: no JetStream answer']),
      'a job that failed is answered as deferred for every recipient, not left to time out',
    );

    const stored = await store.listMessages('alice@example.test');
    assert.equal(stored.length, 1, 'stored once');
    const bytes: Buffer[] = [];
    for await (const chunk of store.readMessage('alice@example.test', stored[0]!.uidl)) bytes.push(Buffer.from(chunk));
    assert.equal(Buffer.concat(bytes).toString(), 'Return-Path: <a@remote.test>\r\nSubject: one\r\n\r\nbody\r\n');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
