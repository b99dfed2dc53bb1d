// MessageVerification, the integration with mailauth: SPF, DKIM (RSA and Ed25519), ARC and DMARC of a
// message fed in pieces as the DATA reader produces them, against an in-memory zone (no network).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign, sealMessage } from 'mailauth';
import { formatDkimKeyRecord } from '@mail/mime';
import type { DnsLookup } from '@mail/platform';
import { MessageVerification, type MessageIdentity } from './verification.js';
import type { AuthVerdict } from './verdict.js';

type Zone = Record<string, string>;

/** TXT records by name; any other name or type is answered as node:dns answers a name that does not exist. */
const zoneLookup =
  (zone: Zone): DnsLookup =>
  async (name, rrtype) => {
    const text = rrtype === 'TXT' ? zone[name.toLowerCase()] : undefined;
    if (text === undefined) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return [[text]];
  };

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed25519 = generateKeyPairSync('ed25519');
const pem = (key: import('node:crypto').KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();

const ZONE: Zone = {
  'sender.example': 'v=spf1 ip4:192.0.2.1 -all',
  'mail.sender.example': 'v=spf1 a:mail.sender.example ip4:192.0.2.1 -all',
  'rsa._domainkey.sender.example': formatDkimKeyRecord(rsa.publicKey),
  'ed._domainkey.sender.example': formatDkimKeyRecord(ed25519.publicKey),
  '_dmarc.sender.example': 'v=DMARC1; p=reject',
  'arc._domainkey.forwarder.example': formatDkimKeyRecord(rsa.publicKey),
};

const IDENTITY: MessageIdentity = { clientAddress: '192.0.2.1', helo: 'mail.sender.example', sender: 'alice@sender.example' };

const MESSAGE = Buffer.from('From: Alice <alice@sender.example>\r\nTo: bob@example.net\r\nSubject: hello\r\n\r\n' + 'A line of the body.\r\n'.repeat(200));

async function sign(message: Buffer, selector: string, algorithm: 'rsa-sha256' | 'ed25519-sha256', privateKey: string): Promise<Buffer> {
  const { signatures } = await dkimSign(message, { signatureData: [{ signingDomain: 'sender.example', selector, privateKey, algorithm }] } as never);
  return Buffer.concat([Buffer.from(signatures), message]);
}

/** Feeds the message in small pieces, as the DATA reader hands them over, and returns the verdict. */
async function verify(message: Buffer, identity = IDENTITY, lookup: DnsLookup = zoneLookup(ZONE), timeoutMs = 10_000): Promise<AuthVerdict> {
  const check = new MessageVerification(identity, { lookup, serverName: 'mx.example.net', timeoutMs });
  for (let i = 0; i < message.length; i += 100) check.write(message.subarray(i, i + 100));
  return check.finish();
}

const summary = (v: AuthVerdict) => v.results.map((r) => `${r.method}=${r.result}`).join(' ');

test('RSA-signed mail from an SPF-authorised client: spf, dkim and dmarc pass', async () => {
  const verdict = await verify(await sign(MESSAGE, 'rsa', 'rsa-sha256', pem(rsa.privateKey)));
  assert.equal(summary(verdict), 'spf=pass spf=pass dkim=pass arc=none dmarc=pass');
  assert.deepEqual(verdict.dmarc, { result: 'pass', policy: 'reject' });
  assert.equal(verdict.authorDomain, 'sender.example');
  assert.equal(verdict.spfPassDomain, 'sender.example');
  assert.deepEqual(verdict.results[0]!.properties, [['smtp.mailfrom', 'alice@sender.example']]);
  assert.deepEqual(verdict.results[1]!.properties, [['smtp.helo', 'mail.sender.example']]);
});

test('Ed25519-signed mail (RFC 8463) verifies; DKIM alone aligns DMARC when SPF fails', async () => {
  const verdict = await verify(await sign(MESSAGE, 'ed', 'ed25519-sha256', pem(ed25519.privateKey)), { ...IDENTITY, clientAddress: '198.51.100.9' });
  assert.equal(summary(verdict), 'spf=fail spf=fail dkim=pass arc=none dmarc=pass');
  assert.ok(verdict.results[2]!.properties.some(([name, value]) => name === 'header.a' && value === 'ed25519-sha256'));
});

test('a forged message (changed after signing, from a client SPF does not allow) fails DMARC under p=reject', async () => {
  const signed = await sign(MESSAGE, 'rsa', 'rsa-sha256', pem(rsa.privateKey));
  const forged = Buffer.from(signed.toString('latin1').replace('Subject: hello', 'Subject: pay this invoice'), 'latin1');
  const verdict = await verify(forged, { ...IDENTITY, clientAddress: '198.51.100.9' });
  assert.equal(summary(verdict), 'spf=fail spf=fail dkim=fail arc=none dmarc=fail');
  assert.deepEqual(verdict.dmarc, { result: 'fail', policy: 'reject' });
  assert.equal(verdict.temporaryFailure, false);
});

test('an ARC chain sealed by a forwarder verifies: arc=pass', async () => {
  const signed = await sign(MESSAGE, 'rsa', 'rsa-sha256', pem(rsa.privateKey));
  const seal = await sealMessage(signed, {
    signingDomain: 'forwarder.example',
    selector: 'arc',
    privateKey: pem(rsa.privateKey),
    authResults: 'forwarder.example; dkim=pass header.d=sender.example',
    cv: 'none',
  } as never);
  const verdict = await verify(Buffer.concat([seal, signed]));
  assert.ok(verdict.results.some((r) => r.method === 'arc' && r.result === 'pass'), summary(verdict));
});

test('unsigned mail from an unknown domain: none everywhere', async () => {
  const message = Buffer.from('From: x@nowhere.example\r\nSubject: hi\r\n\r\nhi\r\n');
  const verdict = await verify(message, { clientAddress: '192.0.2.1', helo: 'client.nowhere.example', sender: 'x@nowhere.example' });
  assert.equal(summary(verdict), 'spf=none spf=none dkim=none arc=none dmarc=none');
});

test('DNS that never answers ends in temperror by the deadline, not in a wait', async () => {
  const silent: DnsLookup = () => new Promise(() => undefined);
  const verdict = await verify(await sign(MESSAGE, 'rsa', 'rsa-sha256', pem(rsa.privateKey)), IDENTITY, silent, 200);
  assert.equal(verdict.results.find((r) => r.method === 'spf')!.result, 'temperror');
  assert.equal(verdict.dmarc.result, 'temperror');
  assert.equal(verdict.temporaryFailure, true);
});

test('a header section that never ends is not held whole: dkim=permerror once it passes the limit', async () => {
  const check = new MessageVerification(IDENTITY, { lookup: zoneLookup(ZONE), serverName: 'mx.example.net', timeoutMs: 10_000, maxHeaderBytes: 4096 });
  for (let i = 0; i < 100; i++) check.write(Buffer.from(`X-Filler-${i}: ${'x'.repeat(60)}\r\n`));
  const verdict = await check.finish();
  assert.equal(verdict.results.find((r) => r.method === 'dkim')!.result, 'permerror');
});

// Hostile inputs: none of these may crash, hang or pass what should not pass.

test('a body length limit (l=) with content appended after it: dkim=policy, not pass, and DMARC does not count it', async () => {
  const signedPart = MESSAGE.subarray(MESSAGE.indexOf('\r\n\r\n') + 4).length;
  const { signatures } = await dkimSign(MESSAGE, { signatureData: [{ signingDomain: 'sender.example', selector: 'rsa', privateKey: pem(rsa.privateKey), algorithm: 'rsa-sha256', maxBodyLength: signedPart }] } as never);
  const appended = Buffer.concat([Buffer.from(signatures), MESSAGE, Buffer.from('Click https://phish.example/ to confirm your account.\r\n')]);
  // From a client SPF does not allow, so only the signature could align DMARC.
  const verdict = await verify(appended, { ...IDENTITY, clientAddress: '198.51.100.7' });
  const dkim = verdict.results.find((r) => r.method === 'dkim')!;
  assert.equal(dkim.result, 'policy');
  assert.match(dkim.comment ?? '', /l=\) leaves \d+ bytes unsigned/);
  assert.equal(verdict.dmarc.result, 'fail');
  // The same signature over the message as sent (nothing appended) is a plain pass.
  const whole = await verify(Buffer.concat([Buffer.from(signatures), MESSAGE]), { ...IDENTITY, clientAddress: '198.51.100.7' });
  assert.match(summary(whole), /dkim=pass .*dmarc=pass$/);
});

test('DNS answering SERVFAIL is a temporary error, never a pass or a crash', async () => {
  const servfail: DnsLookup = async (name) => {
    throw Object.assign(new Error(`queryTxt ESERVFAIL ${name}`), { code: 'ESERVFAIL' });
  };
  const verdict = await verify(await sign(MESSAGE, 'rsa', 'rsa-sha256', pem(rsa.privateKey)), IDENTITY, servfail);
  assert.equal(verdict.results.find((r) => r.method === 'spf')!.result, 'temperror');
  assert.notEqual(verdict.results.find((r) => r.method === 'dkim')!.result, 'pass');
  assert.equal(verdict.temporaryFailure, true);
});

test('a DKIM-Signature with thousands of tags, and a key record of 200 kB of garbage, end in an error result, not a hang', async () => {
  const junkTags = Array.from({ length: 5000 }, (_, i) => `x${i}=${'y'.repeat(8)}`).join('; ');
  const bloated = Buffer.concat([Buffer.from(`DKIM-Signature: v=1; a=rsa-sha256; d=sender.example; s=huge; h=from; bh=AAAA; b=AAAA; ${junkTags}\r\n`), await sign(MESSAGE, 'rsa', 'rsa-sha256', pem(rsa.privateKey))]);
  const zone = { ...ZONE, 'huge._domainkey.sender.example': `v=DKIM1; k=rsa; p=${Buffer.alloc(150_000, 7).toString('base64')}` };
  const verdict = await verify(bloated, IDENTITY, zoneLookup(zone), 10_000);
  const dkim = verdict.results.filter((r) => r.method === 'dkim').map((r) => r.result);
  assert.equal(dkim.length, 2);
  assert.ok(dkim.includes('pass'), `the genuine signature still passes: ${dkim.join(', ')}`);
  assert.ok(dkim.some((r) => r === 'fail' || r === 'permerror' || r === 'neutral' || r === 'policy'), `the bloated one does not: ${dkim.join(', ')}`);
  assert.ok(!dkim.includes('temperror'), 'decided, not cut off by the deadline');
});
