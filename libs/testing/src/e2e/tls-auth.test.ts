// Encryption and authentication against the running services, with a CA made at test time:
// STARTTLS and AUTH on submission, implicit TLS (SMTPS, POP3S), STLS, plain-text logins refused,
// the STARTTLS command-injection attack (CVE-2011-0411), failed-login throttling, certificate
// reload without a restart, the TLS profile (no CBC, CCM or static-RSA suites under TLS 1.2), and no
// password in any log line.
import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { poplibFetchTls, RawClient, smtplibSubmitTls } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { createTestCa, type TestCa } from '../test-ca.js';
import { temporaryDirectory } from '../temporary-directories.js';
import { PASSWORD, splitTrace, startSystemWithUsers } from './helpers.js';

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const b64 = (text: string) => Buffer.from(text).toString('base64');
const message = (subject: string) => Buffer.from(`From: ${ALICE}\r\nTo: ${BOB}\r\nSubject: ${subject}\r\n\r\nsecret ${subject}\r\n`);

/** The certificate a TLS listener presents right now. */
async function presentedCertificate(port: number, ca: string): Promise<X509Certificate> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const certificate = new X509Certificate(socket.getPeerX509Certificate()!.raw);
  socket.destroy();
  return certificate;
}

/** TLS 1.2 suites outside Mozilla's intermediate profile: CBC (SHA-1 and SHA-2), CCM, static RSA key exchange. */
const OUTSIDE_PROFILE = [
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES256-SHA384',
  'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-ECDSA-AES128-CCM8',
  'AES128-SHA256',
  'AES128-GCM-SHA256',
].join(':');

/** A TLS handshake with `options` on a connected socket (or a fresh one to `port`): the suite agreed, or the error. */
async function handshake(port: number, options: import('node:tls').ConnectionOptions): Promise<{ cipher?: string; version?: string; error?: string }> {
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ...options });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    return { cipher: socket.getCipher().standardName, version: socket.getProtocol() ?? '' };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    socket.destroy();
  }
}

/** Polls STAT over STLS until the maildrop holds `count` messages (plain-text login is off here). */
async function waitForCountTls(system: MailSystem, caPem: string, user: string, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = await RawClient.connect(system.pop3Port);
    let seen = -1;
    try {
      await client.reply();
      client.send('STLS\r\n');
      await client.reply();
      await client.upgrade({ ca: caPem, servername: 'localhost' });
      await client.command(`USER ${user}`);
      if ((await client.command(`PASS ${PASSWORD}`)).startsWith('+OK')) {
        seen = Number((await client.command('STAT')).split(' ')[1]);
        await client.command('QUIT');
      }
    } finally {
      client.close();
    }
    if (seen >= count) return;
    if (Date.now() > deadline) throw new Error(`${user} has ${seen} messages, expected ${count}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('TLS and authentication', () => {
  let system: MailSystem;
  let ca: TestCa;
  let caPem: string;
  let work: string;
  before(async () => {
    work = await temporaryDirectory('mail-tls-');
    ca = await createTestCa(join(work, 'ca'));
    caPem = await readFile(ca.caFile, 'utf8');
    const server = await ca.issue('server', ['localhost', '127.0.0.1']);
    // The services read these paths; the reload test replaces the files in place.
    await copyFile(server.certFile, join(work, 'cert.pem'));
    await copyFile(server.keyFile, join(work, 'key.pem'));
    system = await startSystemWithUsers([ALICE, BOB], {
      env: {
        TLS_CERT_FILE: join(work, 'cert.pem'),
        TLS_KEY_FILE: join(work, 'key.pem'),
        TLS_RELOAD_INTERVAL_MS: '200',
        POP3_ALLOW_PLAINTEXT_AUTH: 'false',
        AUTH_MAX_FAILURES: '3',
        AUTH_DELAY_BASE_MS: '10',
        AUTH_DELAY_MAX_MS: '50',
        AUTH_LOCK_MS: '3000',
      },
    });
  });
  after(async () => {
    await system?.stop();
  });

  test('submission: STARTTLS (verified against the CA), AUTH, then the message is delivered with ESMTPSA', async () => {
    const result = await smtplibSubmitTls({ port: system.submissionPort, mode: 'starttls', cafile: ca.caFile, user: ALICE, password: PASSWORD, from: ALICE, to: [BOB], data: message('starttls') });
    assert.equal(result.ok, true, result.error);
    assert.match(result.ehlo, /AUTH PLAIN LOGIN/);
    await waitForCountTls(system, caPem, BOB, 1);
    const fetched = await poplibFetchTls({ port: system.pop3Port, mode: 'stls', cafile: ca.caFile, user: BOB, password: PASSWORD, delete: true });
    assert.equal(fetched.error, '');
    const parts = splitTrace(fetched.messages[0]!);
    assert.match(parts.received, /with ESMTPSA id /);
    assert.deepEqual(parts.original, message('starttls'));
    assert.ok(fetched.capa.includes('USER'), 'USER is offered once TLS is up');
  });

  test('SMTPS (implicit TLS) and POP3S work with verified certificates', async () => {
    const result = await smtplibSubmitTls({ port: system.smtpsPort, mode: 'ssl', cafile: ca.caFile, user: ALICE, password: PASSWORD, from: ALICE, to: [BOB], data: message('implicit') });
    assert.equal(result.ok, true, result.error);
    await waitForCountTls(system, caPem, BOB, 1);
    const fetched = await poplibFetchTls({ port: system.pop3sPort, mode: 'ssl', cafile: ca.caFile, user: BOB, password: PASSWORD, delete: true });
    assert.equal(fetched.error, '');
    assert.match(splitTrace(fetched.messages[0]!).received, /with ESMTPSA id /);
  });

  test('TLS 1.2 with only CBC, CCM or static-RSA suites is refused on SMTPS, POP3S and STARTTLS; ECDHE with AES-GCM and TLS 1.3 are agreed', async () => {
    const tls12 = { maxVersion: 'TLSv1.2' as const };
    for (const port of [system.smtpsPort, system.pop3sPort]) {
      const refused = await handshake(port, { ...tls12, ciphers: OUTSIDE_PROFILE });
      assert.ok(refused.error, `port ${port} agreed on ${refused.cipher}`);
      const agreed = await handshake(port, tls12);
      assert.match(agreed.cipher ?? agreed.error!, /^TLS_ECDHE_(RSA|ECDSA)_WITH_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/);
      assert.equal((await handshake(port, { minVersion: 'TLSv1.3' })).version, 'TLSv1.3');
    }
    const smtp = await RawClient.connect(system.submissionPort);
    await smtp.reply();
    await smtp.command('EHLO client.test');
    assert.match(await smtp.command('STARTTLS'), /^220 /);
    await assert.rejects(smtp.upgrade({ ...tls12, ciphers: OUTSIDE_PROFILE, servername: 'localhost', rejectUnauthorized: false }));
    smtp.close();
  });

  test('before TLS: no AUTH offered on submission, AUTH refused with 538, MAIL refused with 530; POP3 USER refused', async () => {
    const smtp = await RawClient.connect(system.submissionPort);
    await smtp.reply();
    const ehlo = await smtp.command('EHLO client.test');
    assert.match(ehlo, /STARTTLS/);
    assert.doesNotMatch(ehlo, /AUTH/);
    assert.match(await smtp.command(`AUTH PLAIN ${b64(`\0${ALICE}\0${PASSWORD}`)}`), /^538 5\.7\.11 /);
    assert.match(await smtp.command(`MAIL FROM:<${ALICE}>`), /^530 5\.7\.0 /);
    smtp.close();
    const pop = await RawClient.connect(system.pop3Port);
    await pop.reply();
    assert.match(await pop.command(`USER ${BOB}`), /^-ERR \[AUTH\] .*requires TLS/);
    assert.match(await pop.command('CAPA'), /^\+OK/);
    const capa = await pop.multiline();
    assert.match(capa, /^STLS\r$/m);
    assert.doesNotMatch(capa, /^USER\r$/m);
    pop.close();
  });

  test('commands injected before the TLS handshake are discarded (CVE-2011-0411), in SMTP and POP3', async () => {
    const smtp = await RawClient.connect(system.submissionPort);
    await smtp.reply();
    await smtp.command('EHLO client.test');
    // STARTTLS and an injected command in one write: the injected one must never be answered.
    smtp.send('STARTTLS\r\nRSET\r\n');
    assert.match(await smtp.reply(), /^220 2\.0\.0 Ready to start TLS/);
    await smtp.upgrade({ ca: caPem, servername: 'localhost' });
    const first = await smtp.command('EHLO client.test');
    assert.match(first, /^250-/, 'the first reply after the handshake answers EHLO, not the injected RSET');
    assert.match(first, /AUTH PLAIN LOGIN/);
    smtp.close();
    const pop = await RawClient.connect(system.pop3Port);
    await pop.reply();
    pop.send(`STLS\r\nUSER ${BOB}\r\n`);
    assert.match(await pop.reply(), /^\+OK Begin TLS/);
    await pop.upgrade({ ca: caPem, servername: 'localhost' });
    assert.match(await pop.command('NOOP'), /^-ERR/, 'NOOP in AUTHORIZATION: the injected USER did not count');
    assert.match(await pop.command(`PASS ${PASSWORD}`), /^-ERR Send USER first/);
    pop.close();
  });

  test('wrong passwords get 535 5.7.8, then the account is locked (454) even for the right password, in POP3 too', async () => {
    const client = await RawClient.connect(system.submissionPort);
    await client.reply();
    await client.command('EHLO client.test');
    client.send('STARTTLS\r\n');
    await client.reply();
    await client.upgrade({ ca: caPem, servername: 'localhost' });
    await client.command('EHLO client.test');
    for (let i = 0; i < 3; i++) assert.match(await client.command(`AUTH PLAIN ${b64(`\0${ALICE}\0guess-${i}`)}`), /^535 5\.7\.8 /);
    assert.match(await client.command(`AUTH PLAIN ${b64(`\0${ALICE}\0${PASSWORD}`)}`), /^454 4\.7\.0 /);
    client.close();
    // mailbox-store keeps the failures for every edge: the lock caused over SMTP holds in pop3-access.
    const fetched = await poplibFetchTls({ port: system.pop3sPort, mode: 'ssl', cafile: ca.caFile, user: ALICE, password: PASSWORD });
    assert.match(fetched.error, /SYS\/TEMP/);
    await new Promise((r) => setTimeout(r, 3200)); // the lock expires
    const again = await poplibFetchTls({ port: system.pop3sPort, mode: 'ssl', cafile: ca.caFile, user: ALICE, password: PASSWORD });
    assert.equal(again.error, '');
  });

  test('a replaced certificate is served to the next client without a restart', async () => {
    const before = await presentedCertificate(system.smtpsPort, caPem);
    const renewed = await ca.issue('renewed', ['localhost', '127.0.0.1']);
    await copyFile(renewed.keyFile, join(work, 'key.pem'));
    await copyFile(renewed.certFile, join(work, 'cert.pem'));
    const deadline = Date.now() + 10_000;
    let after = before;
    while (after.serialNumber === before.serialNumber && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      after = await presentedCertificate(system.smtpsPort, caPem);
    }
    assert.notEqual(after.serialNumber, before.serialNumber, 'SMTPS serves the new certificate');
    const pop3s = await presentedCertificate(system.pop3sPort, caPem);
    assert.equal(pop3s.serialNumber, after.serialNumber, 'POP3S too');
    // STARTTLS uses the new one as well.
    const client = await RawClient.connect(system.submissionPort);
    await client.reply();
    await client.command('EHLO client.test');
    client.send('STARTTLS\r\n');
    await client.reply();
    const secure = await client.upgrade({ ca: caPem, servername: 'localhost' });
    assert.equal(new X509Certificate(secure.getPeerX509Certificate()!.raw).serialNumber, after.serialNumber);
    client.close();
  });

  test('no password appears in any log line of any service', () => {
    for (const [name, service] of Object.entries(system.services)) {
      const output = service.output();
      assert.doesNotMatch(output, new RegExp(PASSWORD), `${name} logged a password`);
      assert.doesNotMatch(output, /guess-\d/, `${name} logged a failed password`);
      assert.doesNotMatch(output, new RegExp(b64(`\0${ALICE}\0${PASSWORD}`).slice(0, 16)), `${name} logged an AUTH response`);
    }
  });
});
