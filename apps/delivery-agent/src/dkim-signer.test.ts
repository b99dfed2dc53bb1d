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

test('an 8-bit or binary body is made 7-bit before it is signed, so that no hop re-encodes what the signature covers', async () => {
  const { signer } = signerWith({ 'example.com': KEY });
  const eightBit = Buffer.from('From: alice@example.com\r\nSubject: caf\u00e9\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nD\u00e9j\u00e0 vu.\r\n', 'utf8');
  const binary = Buffer.concat([
    Buffer.from('From: alice@example.com\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'),
    Buffer.from([0x00, 0x0a, 0x0d, 0x41]), // bare LF and CR: all ASCII, still not lines
  ]);
  for (const [message, body] of [[eightBit, {}], [binary, { binaryMime: true }]] as const) {
    const signed = Buffer.from(await signer.sign(message, 'alice@example.com', body));
    assert.ok(signed.every((byte) => byte < 0x80), '7-bit');
    assert.doesNotMatch(signed.toString('latin1'), /[^\r]\n|\r[^\n]|\0/, 'lines only');
    const { results } = await dkimVerify(signed, { resolver: resolver as never });
    assert.deepEqual(results.map((r) => r.status.result), ['pass']);
  }
  // SMTPUTF8 mail is never downgraded on the way, so it is signed as it is.
  const utf8 = Buffer.from('From: j\u00f6rg@example.com\r\nSubject: gr\u00fc\u00dfe\r\n\r\nHallo.\r\n', 'utf8');
  const signedUtf8 = Buffer.from(await signer.sign(utf8, 'alice@example.com', { smtputf8: true }));
  assert.ok(signedUtf8.subarray(signedUtf8.length - utf8.length).equals(utf8));
});
