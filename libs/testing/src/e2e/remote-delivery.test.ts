// The queue that delivers anywhere: relaying to remote MX hosts played by Postfix's smtp-sink and by
// scripted servers on 127.0.0.1 (reached through the transport map), retries on 4xx and on a host
// that is down, bounces (RFC 3464) that land in the local sender's mailbox, and the mailctl queue
// commands. Retries run on a one-second schedule here.
import { strict as assert } from 'node:assert';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { poplibFetch, smtplibSend } from '../clients.js';
import { freePort, waitForPort } from '@mail/launcher';
import type { MailSystem } from '../mail-system.js';
import { ScriptedSmtpServer } from '../scripted-smtp.js';
import { temporaryDirectory } from '../temporary-directories.js';
import { assertNothingDelivered, expectCli, PASSWORD, queueList, startSystemWithUsers, until, waitForEmptyQueue, waitForMessageCount } from './helpers.js';

const ALICE = 'alice@example.test';
const crlf = (text: string) => Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8');
const message = (subject: string) => crlf(`From: ${ALICE}\nSubject: ${subject}\nMessage-ID: <${subject}@example.test>\n\nbody of ${subject}\n`);

/** Fetches and deletes alice's mail: the bounces she got. */
async function takeAliceMail(system: MailSystem, count: number) {
  await waitForMessageCount(system, ALICE, count, 30_000);
  return (await poplibFetch(system.pop3Port, ALICE, PASSWORD, { delete: true })).messages.map((m) => m.toString('utf8'));
}

/** Postfix's smtp-sink lives outside PATH on Debian. */
const SMTP_SINK = '/usr/sbin/smtp-sink';
const hasSmtpSink = await new Promise<boolean>((resolve) => execFile(SMTP_SINK, ['-h'], (e) => resolve(!e || (e as NodeJS.ErrnoException).code !== 'ENOENT')));

describe('remote delivery, retries and bounces', () => {
  let system: MailSystem;
  let sink: ChildProcess | undefined;
  let sinkDir = '';
  const scripted = new ScriptedSmtpServer({
    rcpt: (recipient, attempt) => {
      if (recipient.startsWith('later')) return attempt === 1 ? '451 4.7.1 greylisted, try again' : '250 2.1.5 ok';
      if (recipient.startsWith('nobody')) return '550 5.1.1 <' + recipient + '>: no such user here';
      return '250 2.1.5 ok';
    },
  });
  let downPort = 0;
  const down = new ScriptedSmtpServer();
  let sinkPort = 0;

  before(async () => {
    const scriptedPort = await scripted.start();
    downPort = await freePort();
    sinkPort = await freePort();
    if (hasSmtpSink) {
      sinkDir = await temporaryDirectory('smtp-sink-');
      sink = spawn(SMTP_SINK, ['-u', 'root', '-d', `${sinkDir}/%H%M%S.`, `127.0.0.1:${sinkPort}`, '10'], { stdio: 'ignore' });
      await waitForPort(sinkPort);
    }
    system = await startSystemWithUsers([ALICE], {
      env: {
        SMTP_RELAY_NETWORKS: '127.0.0.1/32',
        DELIVERY_TRANSPORT_MAP: `sink.test=127.0.0.1:${sinkPort},scripted.test=127.0.0.1:${scriptedPort},down.test=127.0.0.1:${downPort}`,
        DELIVERY_DESTINATION_BACKOFF_MS: '0',
        DELIVERY_TIMEOUT_CONNECT_MS: '2000',
        QUEUE_RETRY_SCHEDULE: '1s',
        QUEUE_REPORTING_MTA: 'mx.test.local',
      },
    });
  });
  after(async () => {
    sink?.kill();
    await scripted.stop();
    await down.stop();
    await system?.stop();
  });

  test('a message to a remote domain is relayed to its MX (smtp-sink) and leaves the queue', { skip: !hasSmtpSink && 'smtp-sink (Debian package postfix) is missing' }, async () => {
    const [sent] = await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['bob@sink.test'], data: message('to-sink') }]);
    assert.equal(sent!.ok, true);
    const files = await until('smtp-sink dump', async () => {
      const names = await readdir(sinkDir);
      return names.length > 0 ? names : undefined;
    });
    const dump = await readFile(join(sinkDir, files[0]!), 'latin1');
    assert.match(dump, /Subject: to-sink/);
    assert.match(dump, /bob@sink\.test/);
    await waitForEmptyQueue(system);
  });

  test('4xx first, then accepted: delivered exactly once after a retry', async () => {
    const [sent] = await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['later@scripted.test'], data: message('greylisted') }]);
    assert.equal(sent!.ok, true);
    await until('delivery after the retry', () => (scripted.transactions.some((t) => t.recipients.includes('later@scripted.test')) ? true : undefined));
    assert.equal(scripted.rcptAttempts.get('later@scripted.test'), 2);
    await waitForEmptyQueue(system);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(scripted.transactions.filter((t) => t.recipients.includes('later@scripted.test')).length, 1);
  });

  test('some recipients refused (5xx) and others accepted in one transaction; the sender gets one DSN for the refused', async () => {
    const before = scripted.transactions.length;
    const [sent] = await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['yes@scripted.test', 'nobody@scripted.test'], data: message('partial') }]);
    assert.equal(sent!.ok, true);
    const [bounce] = await takeAliceMail(system, 1);
    const delivered = scripted.transactions.slice(before);
    assert.equal(delivered.length, 1, 'one transaction');
    assert.deepEqual(delivered[0]!.recipients, ['yes@scripted.test']);
    assert.match(bounce!, /^Return-Path: <>\r\n/, 'a bounce is sent from the null reverse-path');
    assert.match(bounce!, /Content-Type: multipart\/report;[\s\S]*report-type="?delivery-status/i);
    assert.match(bounce!, /Final-Recipient: rfc822; nobody@scripted\.test/);
    assert.match(bounce!, /Action: failed/);
    assert.match(bounce!, /Status: 5\.1\.1/);
    assert.match(bounce!, /Diagnostic-Code: smtp; 550 5\.1\.1 <nobody@scripted\.test>: no such user here/);
    assert.match(bounce!, /Subject: partial/, 'it carries the original headers');
    assert.doesNotMatch(bounce!, /Final-Recipient: rfc822; yes@scripted\.test/);
  });

  test('a host that is down is retried until it is up, then the message is delivered', async () => {
    const [sent] = await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['patient@down.test'], data: message('while-down') }]);
    assert.equal(sent!.ok, true);
    const deferred = await until('a deferred attempt', async () => {
      const entry = (await queueList(system)).find((m) => m.destinations.some((d) => d.recipient === 'patient@down.test'));
      return entry && entry.destinations[0]!.attempts >= 2 ? entry : undefined;
    });
    assert.equal(deferred.pending, 1);
    const shown = await expectCli(system, ['queue', 'show', deferred.queueId]);
    assert.match(shown, /patient@down\.test: pending, \d+ attempt\(s\) — 451 4\.4\.1 /);
    await down.start(downPort);
    await until('delivery once the host is up', () => (down.transactions.length === 1 ? true : undefined));
    await waitForEmptyQueue(system);
  });

  test('the retry schedule survives kill -9 of queue-manager and delivery-agent: delivered once after restart', async () => {
    await down.stop();
    const [sent] = await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['survivor@down.test'], data: message('survivor') }]);
    assert.equal(sent!.ok, true);
    await until('a deferred attempt', async () => {
      const entry = (await queueList(system)).find((m) => m.destinations.some((d) => d.recipient === 'survivor@down.test'));
      return entry && entry.destinations[0]!.attempts >= 1 ? entry : undefined;
    });
    await system.kill('queue-manager');
    await system.kill('delivery-agent');
    const before = down.transactions.length;
    await down.start(downPort);
    await new Promise((r) => setTimeout(r, 1500)); // the next attempt falls due while nothing runs
    await system.start('queue-manager');
    await system.start('delivery-agent');
    await until('delivery after the restart', () => (down.transactions.some((t) => t.recipients.includes('survivor@down.test')) ? true : undefined));
    await waitForEmptyQueue(system);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(down.transactions.slice(before).filter((t) => t.recipients.includes('survivor@down.test')).length, 1);
  });

  test('mailctl queue hold, release, retry and delete --bounce act on a deferred message', async () => {
    await down.stop();
    const [sent] = await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['held@down.test'], data: message('admin') }]);
    assert.equal(sent!.ok, true);
    const entry = await until('the message in the queue', async () => (await queueList(system)).find((m) => m.destinations.some((d) => d.recipient === 'held@down.test')));
    assert.match(await expectCli(system, ['queue', 'hold', entry.queueId]), /held/);
    assert.equal((await queueList(system)).find((m) => m.queueId === entry.queueId)!.held, true);
    const human = await expectCli(system, ['queue', 'list']);
    assert.match(human, new RegExp(`${entry.queueId}.*held.*${ALICE}`));
    const attemptsWhileHeld = (await queueList(system)).find((m) => m.queueId === entry.queueId)!.destinations[0]!.attempts;
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal((await queueList(system)).find((m) => m.queueId === entry.queueId)!.destinations[0]!.attempts, attemptsWhileHeld, 'no attempt while held');
    await expectCli(system, ['queue', 'release', entry.queueId]);
    assert.match(await expectCli(system, ['queue', 'retry', entry.queueId]), /1 message/);
    await until('a new attempt after release', async () => {
      const current = (await queueList(system)).find((m) => m.queueId === entry.queueId);
      return current && current.destinations[0]!.attempts > attemptsWhileHeld ? true : undefined;
    });
    assert.match(await expectCli(system, ['queue', 'delete', entry.queueId, '--bounce']), /deleted, sender notified/);
    assert.equal((await queueList(system)).some((m) => m.queueId === entry.queueId), false);
    const [bounce] = await takeAliceMail(system, 1);
    assert.match(bounce!, /Final-Recipient: rfc822; held@down\.test/);
    assert.match(bounce!, /deleted from the queue by the postmaster/);
    const missing = await system.mailctl(['queue', 'show', entry.queueId]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no message .* in the queue/);
  });
});

describe('queue lifetime and bounces of bounces', () => {
  let system: MailSystem;
  before(async () => {
    const port = await freePort(); // nothing listens here: every attempt fails
    system = await startSystemWithUsers([ALICE], {
      env: {
        SMTP_RELAY_NETWORKS: '127.0.0.1/32',
        DELIVERY_TRANSPORT_MAP: `*=127.0.0.1:${port}`,
        DELIVERY_DESTINATION_BACKOFF_MS: '0',
        QUEUE_RETRY_SCHEDULE: '1s',
        QUEUE_MAX_LIFETIME: '4s',
        QUEUE_DELAY_WARNING: '2s',
        QUEUE_REPORTING_MTA: 'mx.test.local',
      },
    });
  });
  after(async () => {
    await system?.stop();
  });

  test('a message that stays undeliverable past the queue lifetime is returned to its sender, after one delay warning', async () => {
    const [sent] = await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['someone@unreachable.test'], data: message('expiring') }]);
    assert.equal(sent!.ok, true);
    const notices = await takeAliceMail(system, 2);
    const delayed = notices.find((n) => /Action: delayed/.test(n));
    const failed = notices.find((n) => /Action: failed/.test(n));
    assert.ok(delayed, 'a delay warning');
    assert.match(delayed!, /Will-Retry-Until: /);
    assert.ok(failed, 'a failure notice');
    assert.match(failed!, /Status: 4\.4\.7/);
    assert.match(failed!, /expired/);
    await waitForEmptyQueue(system);
  });

  test('a message from <> that cannot be delivered is dropped, never bounced', async () => {
    const [sent] = await smtplibSend(system.smtpPort, [{ from: '', to: ['someone@unreachable.test'], data: message('from-null') }]);
    assert.equal(sent!.ok, true);
    // A notice would be queued before the message left, so an empty queue means none is on its way.
    await assertNothingDelivered(system, ALICE, 20_000);
  });
});
