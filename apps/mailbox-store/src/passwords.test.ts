// Password hashing: scrypt, self-describing format, and verification that fails closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dummyHashPromise, hashPassword, verifyPassword } from './passwords.js';

test('a hash verifies the password it was made from', async () => {
  const stored = await hashPassword('correct horse battery staple');
  assert.equal(await verifyPassword('correct horse battery staple', stored), true);
});

test('a hash rejects any other password', async () => {
  const stored = await hashPassword('correct horse');
  assert.equal(await verifyPassword('correct horse ', stored), false);
  assert.equal(await verifyPassword('Correct horse', stored), false);
  assert.equal(await verifyPassword('', stored), false);
});

test('the stored form is scrypt$N$r$p$salt$hash and is salted', async () => {
  const a = await hashPassword('same');
  const b = await hashPassword('same');
  assert.match(a, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
  assert.notEqual(a, b);
});

test('non-ASCII passwords round-trip', async () => {
  const stored = await hashPassword('pässwörd 密码');
  assert.equal(await verifyPassword('pässwörd 密码', stored), true);
  assert.equal(await verifyPassword('passwort 密码', stored), false);
});

test('a stored value in another format never verifies', async () => {
  assert.equal(await verifyPassword('secret', 'secret'), false);
  assert.equal(await verifyPassword('secret', ''), false);
  assert.equal(await verifyPassword('secret', 'bcrypt$10$abc$def'), false);
  assert.equal(await verifyPassword('secret', 'scrypt$16384$8$1$$'), false);
});

test('a stored hash whose key is empty never verifies (fails closed)', async () => {
  // "=" and "!!!" are non-empty text that decodes to zero bytes.
  assert.equal(await verifyPassword('anything', 'scrypt$16384$8$1$c2FsdHNhbHQ=$='), false);
  assert.equal(await verifyPassword('anything', 'scrypt$16384$8$1$c2FsdHNhbHQ=$!!!'), false);
});

test('the dummy hash for unknown users verifies nothing', async () => {
  const dummy = await dummyHashPromise;
  assert.equal(await verifyPassword('', dummy), false);
  assert.equal(await verifyPassword('password', dummy), false);
});
