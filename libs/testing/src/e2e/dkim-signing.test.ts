// Outbound DKIM signing (RFC 6376) through the real services: the operator makes a key with mailctl
// and publishes the printed record (in the loopback DNS server); mail an authenticated user of the
// domain submits reaches the remote server (a scripted one) signed, and the signature verifies there
// against the published record, with mailauth and with dkimpy (an independent verifier). Mail of a
// domain without a key leaves unsigned.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { dkimVerify } from 'mailauth';
import { createDnsLookup } from '@mail/platform';
import { DKIMPY_PYTHON, dkimpyVerify, RawClient } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { ScriptedSmtpServer } from '../scripted-smtp.js';
import { expectCli, PASSWORD, startSystemWithUsers } from './helpers.js';

const ALICE = 'alice@example.test';
const CAROL = 'carol@nokey.test';

/** Submits one message on the submission port after AUTH PLAIN (plain text allowed in this test system). */
async function submit(port: number, user: string, to: string, data: string): Promise<void> {
  const client = await RawClient.connect(port);
  try {
    await client.reply();
    await client.command('EHLO laptop.test');
    assert.match(await client.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${PASSWORD}`).toString('base64')}`), /^235 /);
    assert.match(await client.command(`MAIL FROM:<${user}>`), /^250 /);
    assert.match(await client.command(`RCPT TO:<${to}>`), /^250 /);
    assert.match(await client.command('DATA'), /^354/);
    assert.match(await client.command(`${data}.`), /^250 /);
  } finally {
    client.close();
  }
}

describe('outbound DKIM signing with keys made by mailctl', () => {
  let system: MailSystem;
  /** The first test's signed message and the key record it published, for the independent verifier. */
  let signed: { data: Buffer; record: Record<string, string> } | undefined;
  // nobody@remote.test does not exist there: mail to it bounces (and the bounce is ours to sign).
  const remote = new ScriptedSmtpServer({ rcpt: (recipient) => (recipient.startsWith('nobody@') ? '550 5.1.1 no such user' : '250 2.1.5 ok') });

  before(async () => {
    const port = await remote.start();
    system = await startSystemWithUsers([ALICE, CAROL], {
      env: {
        DELIVERY_TRANSPORT_MAP: `remote.test=127.0.0.1:${port}`,
        SMTP_ALLOW_PLAINTEXT_AUTH: 'true',
        // A client on loopback may relay (to make a bounce to a remote sender); notices come from MAILER-DAEMON@mx.example.test.
        SMTP_RELAY_NETWORKS: '127.0.0.1/32',
        QUEUE_REPORTING_MTA: 'mx.example.test',
      },
    });
  });
  after(async () => {
    await system?.stop();
    await remote.stop();
  });

  async function received(count: number) {
    const until = Date.now() + 60_000;
    while (remote.transactions.length < count && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.equal(remote.transactions.length, count);
    return remote.transactions[count - 1]!.data;
  }

  test('mail submitted by a user of a domain with a key arrives signed, and verifies against the published record', async () => {
    const added = await expectCli(system, ['dkim', 'add', 'example.test', '--selector', 'mail', '--algo', 'rsa']);
    const [, name, quoted] = /^(\S+)\. IN TXT (.+)$/m.exec(added)!;
    system.dns!.txt(name!, [...quoted!.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join(''));
    await submit(system.submissionPort, ALICE, 'bob@remote.test', `From: <${ALICE}>\r\nTo: <bob@remote.test>\r\nSubject: signed\r\n\r\nHello Bob.\r\n`);
    const data = await received(1);
    assert.match(data.toString('latin1'), /^DKIM-Signature: /);
    const lookup = createDnsLookup({ servers: [system.dns!.address], timeoutMs: 2000 });
    const { results } = await dkimVerify(data, { resolver: lookup as never });
    assert.deepEqual(results.map((r) => [r.signingDomain, r.selector, r.status.result]), [['example.test', 'mail', 'pass']]);
    signed = { data, record: { [name!]: [...quoted!.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('') } };
  });

  test('the same signature verifies with dkimpy, an independent verifier', { skip: DKIMPY_PYTHON ? false : 'dkimpy not installed (scripts/setup.sh --test-tools)' }, async () => {
    assert.ok(signed, 'the signing test ran first');
    assert.deepEqual(await dkimpyVerify(signed.data, signed.record), { ok: true, signatures: 1 });
    // And a changed body does not: the verifier is really checking.
    const tampered = Buffer.from(signed.data.toString('latin1').replace('Hello Bob.', 'Hello Eve.'), 'latin1');
    assert.deepEqual(await dkimpyVerify(tampered, signed.record), { ok: false, signatures: 1 });
  });

  test('a bounce we send is signed as the reporting host\'s domain (its parent, example.test, has the key) and verifies', async () => {
    const client = await RawClient.connect(system.smtpPort);
    try {
      await client.reply();
      await client.command('EHLO relay.test');
      assert.match(await client.command('MAIL FROM:<zed@remote.test>'), /^250 /);
      assert.match(await client.command('RCPT TO:<nobody@remote.test>'), /^250 /);
      assert.match(await client.command('DATA'), /^354/);
      assert.match(await client.command('From: <zed@remote.test>\r\nTo: <nobody@remote.test>\r\nSubject: to nobody\r\n\r\nHello?\r\n.'), /^250 /);
    } finally {
      client.close();
    }
    const until = Date.now() + 60_000;
    while (!remote.transactions.some((t) => t.sender === '') && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    const bounce = remote.transactions.find((t) => t.sender === '');
    assert.ok(bounce, 'the bounce reached zed@remote.test');
    assert.match(bounce.data.toString('latin1'), /^DKIM-Signature: [^]*d=example\.test;/);
    assert.match(bounce.data.toString('latin1'), /^From: .*MAILER-DAEMON@mx\.example\.test/m);
    const lookup = createDnsLookup({ servers: [system.dns!.address], timeoutMs: 2000 });
    const { results } = await dkimVerify(bounce.data, { resolver: lookup as never });
    assert.deepEqual(results.map((r) => [r.signingDomain, r.status.result]), [['example.test', 'pass']]);
  });

  test('mail of a domain without a key leaves unsigned', async () => {
    await submit(system.submissionPort, CAROL, 'dan@remote.test', `From: <${CAROL}>\r\nTo: <dan@remote.test>\r\nSubject: plain\r\n\r\nHello Dan.\r\n`);
    assert.doesNotMatch((await received(3)).toString('latin1'), /DKIM-Signature/);
  });
});
