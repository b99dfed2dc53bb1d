// DKIM keys as mailbox-store makes them: the published record carries the public half of the stored
// private key, for both algorithms; selectors are checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { dkimKeyInfo, makeDkimKey, requireSelector } from './dkim-keys.js';

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
