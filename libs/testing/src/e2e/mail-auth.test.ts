// Mail authentication at the edge (RFC 7208 SPF, RFC 6376/8463 DKIM, RFC 7489 DMARC, RFC 8601
// Authentication-Results), through the real services: smtp-ingress resolves against a DNS server on
// loopback that serves the test domains' SPF, DKIM and DMARC records; messages are signed here with
// mailauth's signer (and, to show interop, with dkimpy, an independent one), sent with Python's smtplib
// and read back with poplib.
import { strict as assert } from 'node:assert';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { dkimSign } from 'mailauth';
import { formatDkimKeyRecord } from '@mail/mime';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DKIMPY_PYTHON, dkimpySign, poplibFetch, smtplibSend } from '../clients.js';
import { temporaryDirectory } from '../temporary-directories.js';
import type { MailSystem } from '../mail-system.js';
import { PASSWORD, splitTrace, startSystemWithUsers, waitForMessageCount } from './helpers.js';

const RECIPIENT = 'rita@example.test';
const pem = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();

function message(from: string, subject: string, extraHeaders = ''): Buffer {
  return Buffer.from(`${extraHeaders}From: <${from}>\r\nTo: <${RECIPIENT}>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@test>\r\n\r\n${'Body line.\r\n'.repeat(50)}`);
}

async function sign(data: Buffer, signingDomain: string, selector: string, key: KeyObject, algorithm: string): Promise<Buffer> {
  const { signatures } = await dkimSign(data, { signatureData: [{ signingDomain, selector, privateKey: pem(key), algorithm }] } as never);
  return Buffer.concat([Buffer.from(signatures), data]);
}

describe('mail authentication (SPF, DKIM, DMARC) with a DNS server on loopback', () => {
  let system: MailSystem;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ed25519 = generateKeyPairSync('ed25519');
  const forgersKey = generateKeyPairSync('rsa', { modulusLength: 2048 });

  before(async () => {
    system = await startSystemWithUsers([RECIPIENT], {
      env: {
        // strict.test's failures are refused; outage.test is enforced too, to show a DNS outage still is not.
        SMTP_AUTH_POLICY_MAP: 'strict.test=enforce,outage.test=enforce',
        DNS_TIMEOUT_MS: '1000',
      },
    });
    const dns = system.dns!;
    for (const domain of ['sender.test', 'strict.test']) {
      dns.txt(domain, 'v=spf1 ip4:127.0.0.1 -all');
      dns.txt(`rsa._domainkey.${domain}`, formatDkimKeyRecord(rsa.publicKey));
      dns.txt(`ed._domainkey.${domain}`, formatDkimKeyRecord(ed25519.publicKey));
      dns.txt(`_dmarc.${domain}`, 'v=DMARC1; p=reject');
    }
    // The forger's own envelope domain: SPF allows no one.
    dns.txt('forger.test', 'v=spf1 -all');
    dns.silence('outage.test');
  });
  after(async () => {
    await system?.stop();
  });

  /** Sends one message with smtplib; when accepted, waits for it and returns it as POP3 gives it (deleting it). */
  async function deliver(from: string, data: Buffer) {
    const [result] = await smtplibSend(system.smtpPort, [{ from, to: [RECIPIENT], data }]);
    assert.equal(result!.ok, true, JSON.stringify(result));
    await waitForMessageCount(system, RECIPIENT, 1);
    const fetched = await poplibFetch(system.pop3Port, RECIPIENT, PASSWORD, { delete: true });
    assert.equal(fetched.messages.length, 1);
    return splitTrace(fetched.messages[0]!);
  }

  test('signed mail (RSA and Ed25519) from an SPF-authorised client: spf=pass dkim=pass dmarc=pass', async () => {
    const data = await sign(await sign(message('alice@sender.test', 'genuine'), 'sender.test', 'rsa', rsa.privateKey, 'rsa-sha256'), 'sender.test', 'ed', ed25519.privateKey, 'ed25519-sha256');
    const parts = await deliver('alice@sender.test', data);
    const results = parts.authenticationResults;
    assert.match(results, /^Authentication-Results: mx\.test\.local;\r\n/);
    assert.match(results, /\tspf=pass \([^)]*\) smtp\.mailfrom=alice@sender\.test;/);
    assert.match(results, /\tdkim=pass [^;]*header\.s=rsa header\.a=rsa-sha256/);
    assert.match(results, /\tdkim=pass [^;]*header\.s=ed header\.a=ed25519-sha256/);
    assert.match(results, /\tdmarc=pass \(p=REJECT[^)]*\) header\.from=sender\.test/);
    assert.deepEqual(parts.original, data, 'the message itself arrives byte for byte');
  });

  test('mail signed by dkimpy (RSA and Ed25519), an independent signer, verifies here: dkim=pass', { skip: DKIMPY_PYTHON ? false : 'dkimpy not installed (scripts/setup.sh --test-tools)' }, async () => {
    const dir = await temporaryDirectory('dkimpy-keys-');
    const rsaKey = join(dir, 'rsa.pem');
    const edKey = join(dir, 'ed.key');
    await writeFile(rsaKey, rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }));
    // dkimpy takes an Ed25519 key as its 32-byte seed in base64 (RFC 8463's form).
    await writeFile(edKey, Buffer.from(ed25519.privateKey.export({ format: 'jwk' }).d as string, 'base64url').toString('base64'));
    const signed = await dkimpySign(await dkimpySign(message('bob@sender.test', 'signed-by-dkimpy'), 'sender.test', 'rsa', rsaKey), 'sender.test', 'ed', edKey, 'ed25519-sha256');
    const results = (await deliver('bob@sender.test', signed)).authenticationResults;
    assert.match(results, /\tdkim=pass [^;]*header\.s=rsa header\.a=rsa-sha256/);
    assert.match(results, /\tdkim=pass [^;]*header\.s=ed header\.a=ed25519-sha256/);
    assert.match(results, /\tdmarc=pass /);
  });

  test('forged mail (unauthorised envelope domain, signature by another key) is marked fail', async () => {
    const data = await sign(message('ceo@sender.test', 'forged'), 'sender.test', 'rsa', forgersKey.privateKey, 'rsa-sha256');
    const results = (await deliver('ceo@forger.test', data)).authenticationResults;
    assert.match(results, /\tspf=fail [^;]*smtp\.mailfrom=ceo@forger\.test;/);
    assert.match(results, /\tdkim=fail \(bad signature\)/);
    assert.match(results, /\tdmarc=fail \(p=REJECT[^)]*\) header\.from=sender\.test/);
  });

  test('with DMARC p=reject and policy enforce, forged mail is refused 550 5.7.1 and not delivered', async () => {
    const data = await sign(message('ceo@strict.test', 'forged-strict'), 'strict.test', 'rsa', forgersKey.privateKey, 'rsa-sha256');
    const [result] = await smtplibSend(system.smtpPort, [{ from: 'ceo@forger.test', to: [RECIPIENT], data }]);
    assert.equal(result!.ok, false);
    assert.equal(result!.code, 550);
    assert.match(result!.text, /^5\.7\.1 .*DMARC.*strict\.test/);
    // The genuine mail of the same domain still gets through, and it is the only message there.
    const genuine = await sign(message('alice@strict.test', 'genuine-strict'), 'strict.test', 'rsa', rsa.privateKey, 'rsa-sha256');
    const parts = await deliver('alice@strict.test', genuine);
    assert.match(parts.original.toString('latin1'), /^Subject: genuine-strict$/m);
  });

  test('an incoming Authentication-Results claiming our authserv-id is removed; one of another server stays', async () => {
    const spoof = 'Authentication-Results: mx.test.local; dkim=pass header.d=bank.test; dmarc=pass header.from=bank.test\r\n' + 'Authentication-Results: other.example; spf=pass smtp.mailfrom=bank.test\r\n';
    const parts = await deliver('alice@sender.test', message('alice@sender.test', 'spoofed-results', spoof));
    const text = parts.original.toString('latin1');
    assert.doesNotMatch(text, /mx\.test\.local/i);
    assert.match(text, /^Authentication-Results: other\.example; spf=pass/m);
    assert.match(parts.authenticationResults, /\tdkim=none/, 'ours says what was found: no signature');
  });

  test('a DNS server that does not answer gives temperror, and the mail is accepted (even under enforce)', async () => {
    const data = message('bob@outage.test', 'dns-outage');
    const results = (await deliver('bob@outage.test', data)).authenticationResults;
    assert.match(results, /\tspf=temperror [^;]*smtp\.mailfrom=bob@outage\.test;/);
    assert.match(results, /\tdmarc=temperror /);
    assert.ok(system.dns!.queries.includes('TXT outage.test'), 'the silent server was asked');
  });
});
