// The local lane as NATS requests (libs/contracts nats.ts says why): a local message passes the broker
// with nothing stored but its spool parts, and jobs sent while no mailbox-store listens are delivered
// as soon as one does, not after the job timeout.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { REMOTE_JOB_STREAM, RESULT_STREAM, SPOOL_STREAM } from '@mail/contracts';
import { connectNats, loadNatsSettings } from '@mail/platform';
import { smtplibSend } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { messageCount, startSystemWithUsers, waitForEmptyQueue, waitForMessageCount } from './helpers.js';

const USER = 'lane@example.test';
/** Far longer than the test waits: a delivery that needed the timeout would fail it. */
const JOB_TIMEOUT_MS = 180_000;

const batch = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ from: 'bob@remote.test', to: [USER], data: Buffer.from(`Subject: lane ${from + i}\r\n\r\nmessage ${from + i}\r\n`) }));

describe('the local lane', () => {
  let system: MailSystem;
  before(async () => {
    system = await startSystemWithUsers([USER], { env: { QUEUE_LOCAL_JOB_TIMEOUT: String(JOB_TIMEOUT_MS) } });
  });
  after(async () => {
    await system?.stop();
  });

  test('local mail is delivered with nothing stored in the broker but its spool parts, which leave with it', async () => {
    const replies = await smtplibSend(system.smtpPort, batch(0, 20));
    assert.ok(replies.every((r) => r.ok), 'all accepted');
    assert.equal(await waitForMessageCount(system, USER, 20), 20);
    await waitForEmptyQueue(system);
    const nats = await connectNats(system.natsUrl, 'local-lane-test', pino({ level: 'silent' }), loadNatsSettings(system.natsAuth.env('queue-manager')));
    try {
      for (const stream of [RESULT_STREAM, REMOTE_JOB_STREAM]) {
        assert.equal((await nats.jsm.streams.info(stream)).state.last_seq, 0, `nothing was ever written to ${stream}`);
      }
      let spooled = -1;
      for (let tries = 0; tries < 50 && spooled !== 0; tries++) {
        if (tries > 0) await new Promise((r) => setTimeout(r, 100));
        spooled = (await nats.jsm.streams.info(SPOOL_STREAM)).state.messages;
      }
      assert.equal(spooled, 0, 'the spool is empty once the mail is delivered');
    } finally {
      await nats.nc.close();
    }
  });

  test('jobs sent while no mailbox-store listens are delivered soon after one does, not after QUEUE_LOCAL_JOB_TIMEOUT', { timeout: 120_000 }, async () => {
    const before = await messageCount(system, USER);
    // Accepted while queue-manager is away: the messages wait in the spool.
    await system.services['queue-manager'].stop();
    const replies = await smtplibSend(system.smtpPort, batch(100, 10));
    assert.ok(replies.every((r) => r.ok), 'all accepted (mailbox-store answered their RCPT checks)');
    // Then mailbox-store goes, and queue-manager comes back and sends their jobs to nobody.
    await system.services['mailbox-store'].stop();
    await system.start('queue-manager');
    await new Promise((r) => setTimeout(r, 3000));
    const started = Date.now();
    await system.start('mailbox-store');
    assert.equal(await waitForMessageCount(system, USER, before + 10, 60_000), before + 10, 'every message delivered, once');
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < JOB_TIMEOUT_MS / 1000 / 3, `delivered ${seconds.toFixed(1)} s after mailbox-store started, without waiting for the ${JOB_TIMEOUT_MS / 1000} s job timeout`);
  });
});
