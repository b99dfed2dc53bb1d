// DkimSigner: what an authenticated user of a domain with a key submitted leaves signed, verifiably
// (checked with mailauth's verifier against the published record); everything else leaves as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { dkimVerify } from 'mailauth';
import { formatDkimKeyRecord } from '@mail/mime';
import { DkimSigner, type SigningKey } from './dkim-signer.js';

const pair = generateKeyPairSync('ed25519');
const KEY: SigningKey = { domain: 'example.com', selector: 'mail', algorithm: 'ed25519-sha256', privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
const MESSAGE = Buffer.from('From: alice@example.com\r\nTo: bob@remote.example\r\nSubject: hi\r\n\r\nHello Bob.\r\n');
const record = formatDkimKeyRecord(pair.publicKey);
const resolver = async (name: string) => {
  if (name === 'mail._domainkey.example.com') return [[record]];
  throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
};

function signerWith(keys: Record<string, SigningKey>) {
  const asked: string[] = [];
  const signer = new DkimSigner(async (domain) => {
    asked.push(domain);
    return keys[domain];
  });
  return { signer, asked };
}

test('mail an authenticated user of a domain with a key submitted is signed, and verifies', async () => {
  const { signer } = signerWith({ 'example.com': KEY });
  const signed = Buffer.from(await signer.sign(MESSAGE, 'Alice@Example.com'));
  assert.match(signed.toString('latin1'), /^DKIM-Signature: [^]*d=example\.com;[^]*s=mail;/);
  assert.ok(signed.subarray(signed.length - MESSAGE.length).equals(MESSAGE), 'the message itself is unchanged after the signature');
  const { results } = await dkimVerify(signed, { resolver: resolver as never });
  assert.deepEqual(results.map((r) => [r.signingDomain, r.status.result]), [['example.com', 'pass']]);
});

test('mail from outside (no submitter) and from a domain without a key leaves unchanged', async () => {
  const { signer, asked } = signerWith({ 'example.com': KEY });
  assert.equal(await signer.sign(MESSAGE, ''), MESSAGE);
  assert.equal(await signer.sign(MESSAGE, 'carol@nokey.example'), MESSAGE);
  assert.deepEqual(asked, ['nokey.example']);
});

test('a domain\'s key (or its having none) is asked for once a minute, not per message', async () => {
  const { signer, asked } = signerWith({ 'example.com': KEY });
  await signer.sign(MESSAGE, 'alice@example.com');
  await signer.sign(MESSAGE, 'bob@example.com');
  await signer.sign(MESSAGE, 'carol@nokey.example');
  await signer.sign(MESSAGE, 'dave@nokey.example');
  assert.deepEqual(asked, ['example.com', 'nokey.example']);
});

test('when the key cannot be fetched, signing throws (the delivery is tried later, never sent unsigned)', async () => {
  const signer = new DkimSigner(async () => {
    throw new Error('mailbox-store unavailable');
  });
  await assert.rejects(signer.sign(MESSAGE, 'alice@example.com'), /mailbox-store unavailable/);
});

test('a notice of ours (MAILER-DAEMON@ the reporting host) is signed with the host\'s parent domain\'s key, never a top-level domain\'s', async () => {
  const { signer, asked } = signerWith({ 'example.com': KEY });
  const signed = Buffer.from(await signer.sign(MESSAGE, 'MAILER-DAEMON@mx1.mx.example.com'));
  assert.match(signed.toString('latin1'), /^DKIM-Signature: [^]*d=example\.com;/);
  assert.deepEqual(asked, ['mx1.mx.example.com', 'mx.example.com', 'example.com']);
  const { signer: other, asked: looked } = signerWith({ com: KEY });
  assert.equal(await other.sign(MESSAGE, 'MAILER-DAEMON@mx.nokey.com'), MESSAGE);
  assert.deepEqual(looked, ['mx.nokey.com', 'nokey.com']);
});
