// Delivery Status Notifications (RFC 3461, RFC 3464) end to end, on the real system: Python's smtplib sends
// with NOTIFY/ORCPT/RET/ENVID; a local delivery brings a "delivered" notice, a refused remote recipient a
// failure report, a relay to a server without DSN a "relayed" notice, NOTIFY=NEVER nothing; every notice
// is read with Python's `email` package. Then interoperability with Postfix both ways: Postfix's
// sendmail -N/-V/-R relaying to our smtp-ingress (we honour what it passes on), and our delivery-agent
// relaying to Postfix's smtpd (Postfix gets the request: its own "delivered" notice comes back to us).
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { freePort } from '@mail/launcher';
import { poplibFetch, pythonParseDsns, RawClient, smtplibSend, type ParsedDsn } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { postfixUnavailable, startPostfix, type PostfixInstance } from '../postfix-instance.js';
import { ScriptedSmtpServer } from '../scripted-smtp.js';
import { assertNothingDelivered, messageCount, PASSWORD, startSystemWithUsers, until, waitForEmptyQueue, waitForMessageCount } from './helpers.js';

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const crlf = (text: string) => Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8');
const message = (subject: string) => crlf(`From: ${ALICE}\nSubject: ${subject}\nMessage-ID: <${subject}@example.test>\n\nthe body of ${subject}\n`);

/** Fetches and deletes a user's mail once `count` messages are there. */
async function take(system: MailSystem, user: string, count: number): Promise<Buffer[]> {
  await waitForMessageCount(system, user, count, 60_000);
  return (await poplibFetch(system.pop3Port, user, PASSWORD, { delete: true })).messages;
}

/** The notices among `messages`, as Python's email package reads them, with their raw text. */
async function parsed(messages: Buffer[]): Promise<(ParsedDsn & { raw: string })[]> {
  const dsns = await pythonParseDsns(messages);
  return dsns.map((d, i) => ({ ...d, raw: messages[i]!.toString('utf8') }));
}

const actionOf = (dsn: ParsedDsn) => dsn.recipients.map((r) => r['action']).join(',');

/** The checks every notice gets: a multipart/report of delivery-status with its three parts, from <>. */
function assertReport(dsn: ParsedDsn & { raw: string }, returned: 'text/rfc822-headers' | 'message/rfc822') {
  assert.equal(dsn.content_type, 'multipart/report');
  assert.equal(dsn.report_type, 'delivery-status');
  assert.deepEqual(dsn.parts, ['text/plain', 'message/delivery-status', returned]);
  assert.equal(dsn.returned_type, returned);
  assert.match(dsn.raw, /^Return-Path: <>\r\n/, 'sent from the null reverse-path');
}

describe('delivery status notifications (RFC 3461/3464)', () => {
  let system: MailSystem;
  /** A remote MX without DSN: refuses nobody@, takes the rest. */
  const plain = new ScriptedSmtpServer({ rcpt: (r) => (r.startsWith('nobody') ? `550 5.1.1 <${r}>: no such user here` : '250 2.1.5 ok') });
  /** A remote MX that offers DSN. */
  const dsnHop = new ScriptedSmtpServer({ extensions: ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'DSN', 'SIZE 10000000'] });
  const postfixSkip = postfixUnavailable();
  let postfix: PostfixInstance | undefined;

  before(async () => {
    const plainPort = await plain.start();
    const dsnPort = await dsnHop.start();
    const postfixPort = await freePort();
    system = await startSystemWithUsers([ALICE, BOB], {
      env: {
        SMTP_RELAY_NETWORKS: '127.0.0.1/32',
        DELIVERY_TRANSPORT_MAP: `fail.test=127.0.0.1:${plainPort},plain.test=127.0.0.1:${plainPort},dsnhop.test=127.0.0.1:${dsnPort},pf.test=127.0.0.1:${postfixPort}`,
        DELIVERY_DESTINATION_BACKOFF_MS: '0',
        QUEUE_RETRY_SCHEDULE: '1s',
        QUEUE_REPORTING_MTA: 'mx.test.local',
      },
    });
    if (!postfixSkip) postfix = await startPostfix({ hostname: 'pf.test.local', domain: 'pf.test', users: ['carol'], relayPort: system.smtpPort, port: postfixPort });
  });
  after(async () => {
    postfix?.stop();
    await plain.stop();
    await dsnHop.stop();
    await system?.stop();
  });

  test('smtp-ingress offers DSN and answers a malformed parameter 501 5.5.4 with the reason', async () => {
    const client = await RawClient.connect(system.smtpPort);
    try {
      await client.reply();
      assert.match(await client.command('EHLO client.test'), /^250-DSN$/m);
      assert.match(await client.command(`MAIL FROM:<${ALICE}> RET=NONE`), /^501 5\.5\.4 RET must be FULL or HDRS$/);
      assert.match(await client.command(`MAIL FROM:<${ALICE}> ENVID=a+0Db`), /^501 5\.5\.4 ENVID must decode to printable US-ASCII$/);
      assert.match(await client.command(`MAIL FROM:<${ALICE}> RET=HDRS ENVID=x`), /^250 /);
      assert.match(await client.command(`RCPT TO:<${BOB}> NOTIFY=NEVER,DELAY`), /^501 5\.5\.4 NOTIFY=NEVER cannot be combined with other values$/);
      assert.match(await client.command(`RCPT TO:<${BOB}> ORCPT=rfc822;bob@example.test ORCPT=rfc822;x@y`), /^501 5\.5\.4 Duplicate parameter ORCPT$/);
      assert.match(await client.command(`RCPT TO:<${BOB}> NOTIFY=SUCCESS ORCPT=rfc822;bob@example.test`), /^250 /);
      await client.command('QUIT');
    } finally {
      client.close();
    }
  });

  test('NOTIFY=SUCCESS,FAILURE with RET=HDRS and ENVID: a "delivered" notice for the local recipient, a failure report for the refused remote one', async () => {
    const [sent] = await smtplibSend(system.smtpPort, [
      { from: ALICE, to: [BOB, 'nobody@fail.test'], data: message('dsn-both'), mailOptions: ['RET=HDRS', 'ENVID=abc'], rcptOptions: ['NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;x@y'] },
    ]);
    assert.equal(sent!.ok, true);
    const [delivered] = await take(system, BOB, 1);
    assert.match(delivered!.toString(), /Subject: dsn-both/);
    const notices = await parsed(await take(system, ALICE, 2));
    const success = notices.find((n) => actionOf(n) === 'delivered');
    const failure = notices.find((n) => actionOf(n) === 'failed');
    assert.ok(success && failure, `one of each: ${notices.map(actionOf).join(' / ')}`);
    for (const notice of [success, failure]) {
      assertReport(notice, 'text/rfc822-headers');
      assert.equal(notice.per_message['reporting-mta'], 'dns; mx.test.local');
      assert.equal(notice.per_message['original-envelope-id'], 'abc');
      assert.equal(notice.recipients.length, 1);
      assert.match(notice.recipients[0]!['original-recipient']!, /^rfc822; ?x@y$/);
      assert.match(notice.returned!, /^Subject: dsn-both$/m, 'RET=HDRS: the header section...');
      assert.doesNotMatch(notice.returned!, /the body of/, '...and not the body');
    }
    assert.equal(success.recipients[0]!['final-recipient'], `rfc822; ${BOB}`);
    assert.match(success.recipients[0]!['status']!, /^2\.\d+\.\d+$/);
    assert.equal(failure.recipients[0]!['final-recipient'], 'rfc822; nobody@fail.test');
    assert.equal(failure.recipients[0]!['status'], '5.1.1');
    assert.match(failure.recipients[0]!['diagnostic-code']!, /^smtp; 550 5\.1\.1 <nobody@fail\.test>: no such user here/);
    assert.equal(failure.recipients[0]!['remote-mta'], 'dns; 127.0.0.1');
    await waitForEmptyQueue(system);
  });

  test('NOTIFY=NEVER: a refused recipient produces no notice at all', async () => {
    const [sent] = await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['nobody-never@fail.test'], data: message('dsn-never'), rcptOptions: ['NOTIFY=NEVER'] }]);
    assert.equal(sent!.ok, true);
    await until('the refusal', () => (plain.rcptAttempts.get('nobody-never@fail.test') ? true : undefined));
    await assertNothingDelivered(system, ALICE);
  });

  test('RET=FULL returns the whole message in the failure report, as message/rfc822', async () => {
    const [sent] = await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['nobody-full@fail.test'], data: message('dsn-full'), mailOptions: ['RET=FULL'] }]);
    assert.equal(sent!.ok, true);
    const [failure] = await parsed(await take(system, ALICE, 1));
    assertReport(failure!, 'message/rfc822');
    assert.equal(actionOf(failure!), 'failed');
    assert.match(failure!.returned!, /Subject: dsn-full/);
    assert.match(failure!.returned!, /the body of dsn-full/);
    assert.match(failure!.per_message['original-envelope-id']!, /^[0-9A-Z]{20}$/, 'without an ENVID, our queue id (given in the reply to DATA)');
  });

  test('NOTIFY=SUCCESS to remote servers: the request goes on to a server with DSN (no notice from us), a server without DSN gets none and we say "relayed"', async () => {
    const [sent] = await smtplibSend(system.smtpPort, [
      {
        from: ALICE,
        to: ['someone@plain.test', 'someone@dsnhop.test'],
        data: message('dsn-relay'),
        mailOptions: ['RET=HDRS', 'ENVID=e+2B1'],
        rcptOptions: ['NOTIFY=SUCCESS', 'ORCPT=rfc822;first+2Blast@example.test'],
      },
    ]);
    assert.equal(sent!.ok, true);
    const [relayed] = await parsed(await take(system, ALICE, 1));
    assertReport(relayed!, 'text/rfc822-headers');
    assert.equal(actionOf(relayed!), 'relayed');
    assert.equal(relayed!.recipients[0]!['final-recipient'], 'rfc822; someone@plain.test');
    assert.match(relayed!.recipients[0]!['original-recipient']!, /^rfc822; ?first\+last@example\.test$/, 'ORCPT decoded from xtext');
    assert.equal(relayed!.per_message['original-envelope-id'], 'e+1', 'ENVID decoded from xtext');
    const withDsn = dsnHop.transactions.find((t) => t.recipients.includes('someone@dsnhop.test'));
    assert.ok(withDsn);
    assert.match(withDsn.ehloParameters, /(^| )RET=HDRS ENVID=e\+2B1$/);
    assert.deepEqual(withDsn.recipientParameters, ['NOTIFY=SUCCESS ORCPT=rfc822;first+2Blast@example.test']);
    const withoutDsn = plain.transactions.find((t) => t.recipients.includes('someone@plain.test'));
    assert.ok(withoutDsn);
    assert.doesNotMatch(withoutDsn.ehloParameters, /RET|ENVID/);
    assert.deepEqual(withoutDsn.recipientParameters, ['']);
    await assertNothingDelivered(system, ALICE); // the server with DSN reports itself: nothing more from us
  });

  describe('with Postfix', { skip: postfixSkip }, () => {
    test('Postfix sendmail -N success,failure -V relays the request to us, and we honour it: a "delivered" notice with its ENVID and ORCPT', async () => {
      await postfix!.sendmail(['-N', 'success,failure', '-V', 'pf-envid-1', '-f', ALICE, BOB], message('from-postfix'));
      const [delivered] = await take(system, BOB, 1);
      assert.match(delivered!.toString(), /Subject: from-postfix/);
      assert.match(delivered!.toString(), /^Received: from pf\.test\.local /m, 'it came through Postfix');
      const [notice] = await parsed(await take(system, ALICE, 1));
      assertReport(notice!, 'text/rfc822-headers');
      assert.equal(notice!.per_message['reporting-mta'], 'dns; mx.test.local', 'our notice, not Postfix\'s');
      assert.equal(notice!.per_message['original-envelope-id'], 'pf-envid-1');
      assert.equal(actionOf(notice!), 'delivered');
      assert.match(notice!.recipients[0]!['original-recipient']!, /^rfc822; ?bob@example\.test$/, 'Postfix adds ORCPT');
      assert.match(postfix!.log(), new RegExp(`to=<${BOB}>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${system.smtpPort}.*status=sent`));
    });

    test('Postfix sendmail -N failure -R hdrs: our failure report carries its ENVID; -N never: no report', async () => {
      await postfix!.sendmail(['-N', 'never', '-V', 'pf-never', '-f', ALICE, 'nobody-pf-never@fail.test'], message('postfix-never'));
      await postfix!.sendmail(['-N', 'failure', '-R', 'hdrs', '-V', 'pf-fail', '-f', ALICE, 'nobody-pf@fail.test'], message('postfix-failure'));
      const [failure] = await parsed(await take(system, ALICE, 1));
      assertReport(failure!, 'text/rfc822-headers');
      assert.equal(actionOf(failure!), 'failed');
      assert.equal(failure!.per_message['reporting-mta'], 'dns; mx.test.local');
      assert.equal(failure!.per_message['original-envelope-id'], 'pf-fail');
      assert.equal(failure!.recipients[0]!['final-recipient'], 'rfc822; nobody-pf@fail.test');
      await until('the NOTIFY=NEVER message refused by the remote server too', () => (plain.rcptAttempts.get('nobody-pf-never@fail.test') ? true : undefined));
      await until('Postfix relayed both', async () => ((await postfix!.queueEmpty()) ? true : undefined));
      await assertNothingDelivered(system, ALICE);
    });

    test('our delivery-agent passes NOTIFY/ORCPT/RET/ENVID to Postfix: Postfix delivers and sends its own "delivered" notice, and we send none', async () => {
      const [sent] = await smtplibSend(system.smtpPort, [
        { from: ALICE, to: ['carol@pf.test'], data: message('to-postfix'), mailOptions: ['RET=HDRS', 'ENVID=abc-pf'], rcptOptions: ['NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;x@y'] },
      ]);
      assert.equal(sent!.ok, true);
      await until('delivery into carol\'s maildir at Postfix', () => (postfix!.maildir('carol').some((m) => /Subject: to-postfix/.test(m.toString())) ? true : undefined));
      const [notice] = await parsed(await take(system, ALICE, 1));
      assertReport(notice!, 'text/rfc822-headers');
      assert.equal(notice!.per_message['reporting-mta'], 'dns; pf.test.local', 'Postfix\'s notice');
      assert.equal(notice!.per_message['original-envelope-id'], 'abc-pf', 'Postfix got ENVID');
      assert.equal(actionOf(notice!), 'delivered', 'Postfix got NOTIFY=SUCCESS');
      assert.match(notice!.recipients[0]!['original-recipient']!, /^rfc822; ?x@y$/, 'Postfix got ORCPT');
      assert.match(postfix!.log(), /sender delivery status notification/);
      await until('Postfix done', async () => ((await postfix!.queueEmpty()) ? true : undefined));
      await waitForEmptyQueue(system);
      assert.equal(await messageCount(system, ALICE), 0, 'no "relayed" notice of ours: Postfix took the request');
    });
  });
});
