// DKIM keys as mailbox-store makes them: the published record carries the public half of the stored
// private key, for both algorithms; selectors are checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { dkimKeyInfo, keyInfosWithSigning, makeDkimKey, requireSelector, signingKeyAt } from './dkim-keys.js';

/** The public key a verifier reads from the TXT record (RFC 6376 §3.6.1; RFC 8463 for the bare Ed25519 key). */
function publishedKey(record: string) {
  const p = /(?:^|;\s*)p=([A-Za-z0-9+/=]+)/.exec(record)![1]!;
  const raw = Buffer.from(p, 'base64');
  const der = raw.length === 32 ? Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]) : raw;
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

for (const [algorithm, expected, hash] of [['rsa', 'rsa-sha256', 'sha256'], ['ed25519', 'ed25519-sha256', null]] as const) {
  test(`a new ${algorithm} key: the TXT record publishes the public half of the private key kept`, async () => {
    const now = new Date(Date.UTC(2026, 10, 30));
    const key = await makeDkimKey('example.com', 'mail', algorithm, now);
    assert.equal(key.algorithm, expected);
    const info = dkimKeyInfo(key);
    assert.equal(info.dnsName, 'mail._domainkey.example.com');
    assert.match(info.txtRecord, new RegExp(`^v=DKIM1; k=${algorithm}; p=`));
    assert.ok(!JSON.stringify(info).includes('PRIVATE KEY'), 'the information shown has no private key');
    const data = Buffer.from('canonicalized header fields');
    const signature = sign(hash, data, createPrivateKey(key.privateKeyPem));
    assert.equal(verify(hash, data, publishedKey(info.txtRecord), signature), true);
  });
}

test('selectors are labels (made from the date when none is given); anything else is refused', () => {
  const now = new Date(Date.UTC(2026, 10, 30));
  assert.equal(requireSelector('', now), 's20261130');
  assert.equal(requireSelector('Mail.2026', now), 'mail.2026');
  assert.throws(() => requireSelector('a b', now), /invalid selector/);
  assert.throws(() => requireSelector('-x', now), /invalid selector/);
});

test('an unknown algorithm is refused', async () => {
  await assert.rejects(makeDkimKey('example.com', 'mail', 'dsa', new Date()), /algorithm must be rsa or ed25519/);
});

test('the key that signs is the latest whose time has come: a rotation\'s new key waits, the old one signs until then', async () => {
  const day = 86_400_000;
  const t0 = Date.UTC(2026, 10, 1);
  const first = await makeDkimKey('example.com', 'old', 'ed25519', new Date(t0));
  const next = await makeDkimKey('example.com', 'new', 'ed25519', new Date(t0 + 10 * day), t0 + 12 * day);
  assert.equal(dkimKeyInfo(next).signsFromMs, t0 + 12 * day);
  assert.equal(signingKeyAt([first, next], t0 + 11 * day)?.selector, 'old', 'before its time the new key only waits');
  assert.equal(signingKeyAt([first, next], t0 + 12 * day)?.selector, 'new', 'from its time on it signs');
  assert.equal(signingKeyAt([next], t0 + 11 * day), undefined, 'a domain whose only key waits does not sign yet');
  const { signsFromMs: _stored, ...beforeRotations } = first; // a key stored before rotation existed signs from its creation
  assert.equal(signingKeyAt([beforeRotations, next], t0 + day)?.selector, 'old');
  const past = await makeDkimKey('example.com', 'past', 'ed25519', new Date(t0 + 20 * day), t0);
  assert.equal(past.signsFromMs, t0 + 20 * day, 'a start in the past means now');
});

test('a listing marks each domain\'s signing key, as signingKeyAt picks it', async () => {
  const day = 86_400_000;
  const t0 = Date.UTC(2026, 0, 1);
  const old = await makeDkimKey('example.com', 'old', 'ed25519', new Date(t0));
  const next = await makeDkimKey('example.com', 'new', 'ed25519', new Date(t0 + 10 * day), t0 + 12 * day);
  const other = await makeDkimKey('other.example', 'only', 'ed25519', new Date(t0));
  const marked = (now: number) => keyInfosWithSigning([old, next, other], now).filter((k) => k.signing).map((k) => `${k.domain}/${k.selector}`);
  assert.deepEqual(marked(t0 + 11 * day), ['example.com/old', 'other.example/only']);
  assert.deepEqual(marked(t0 + 12 * day), ['example.com/new', 'other.example/only']);
});
