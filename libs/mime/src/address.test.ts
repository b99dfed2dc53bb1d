import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAddressList } from './index.js';

test('display names and angle addresses', () => {
  assert.deepEqual(parseAddressList('John Doe <john@example.com>, jane@example.com'), [
    { name: 'John Doe', address: 'john@example.com' },
    { name: '', address: 'jane@example.com' },
  ]);
});

test('quoted display names may contain specials and escapes', () => {
  assert.deepEqual(parseAddressList('"Doe, John \\"JD\\"" <j@x.org>'), [{ name: 'Doe, John "JD"', address: 'j@x.org' }]);
});

test('groups are flattened with the group name (RFC 5322 3.4)', () => {
  assert.deepEqual(parseAddressList('Team: a@x.org, B <b@x.org>;, c@y.org'), [
    { name: '', address: 'a@x.org', group: 'Team' },
    { name: 'B', address: 'b@x.org', group: 'Team' },
    { name: '', address: 'c@y.org' },
  ]);
  assert.deepEqual(parseAddressList('undisclosed-recipients:;'), []);
});

test('comments are ignored and obsolete routes dropped', () => {
  assert.deepEqual(parseAddressList('a@x.org (Alice), <@relay.example:b@y.org>'), [
    { name: '', address: 'a@x.org' },
    { name: '', address: 'b@y.org' },
  ]);
});

test('quoted local parts are kept quoted', () => {
  assert.deepEqual(parseAddressList('"john doe"@example.com'), [{ name: '', address: '"john doe"@example.com' }]);
});

test('encoded-word and UTF-8 display names (RFC 2047, RFC 6532)', () => {
  assert.deepEqual(parseAddressList('=?utf-8?q?J=C3=BCrgen?= <j@x.de>, Zoë <zoë@bücher.de>'), [
    { name: 'Jürgen', address: 'j@x.de' },
    { name: 'Zoë', address: 'zoë@bücher.de' },
  ]);
});

test('garbage never throws', () => {
  for (const s of ['<', '>', '"', '(', ':;,', '<<a@b>>', 'a@b <', '""<>']) assert.doesNotThrow(() => parseAddressList(s));
});
