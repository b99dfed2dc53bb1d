// The Authentication-Results field (RFC 8601): how ours is written, and which arriving ones are removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authservIdOf, formatAuthenticationResults, withoutClaimsOf } from './results-header.js';
import type { AuthVerdict } from './verdict.js';

const joined = (parts: Buffer[]) => Buffer.concat(parts).toString('latin1');

test('one field names our authserv-id and gives one resinfo per method and identity, in order', () => {
  const verdict: AuthVerdict = {
    results: [
      { method: 'spf', result: 'pass', comment: 'mx.example.net: domain of a@sender.example designates 192.0.2.1 as permitted sender', properties: [['smtp.mailfrom', 'a@sender.example']] },
      { method: 'spf', result: 'none', properties: [['smtp.helo', 'client.example']] },
      { method: 'dkim', result: 'pass', properties: [['header.i', '@sender.example'], ['header.s', 'sel'], ['header.a', 'ed25519-sha256'], ['header.b', 'AbC/+1x=']] },
      { method: 'dmarc', result: 'pass', comment: 'p=REJECT', properties: [['header.from', 'sender.example']] },
    ],
    dmarc: { result: 'pass', policy: 'reject' },
    temporaryFailure: false,
  };
  assert.equal(
    formatAuthenticationResults('mx.example.net', verdict),
    'Authentication-Results: mx.example.net;\r\n' +
      '\tspf=pass (mx.example.net: domain of a@sender.example designates 192.0.2.1 as permitted sender) smtp.mailfrom=a@sender.example;\r\n' +
      '\tspf=none smtp.helo=client.example;\r\n' +
      '\tdkim=pass header.i=@sender.example header.s=sel header.a=ed25519-sha256 header.b="AbC/+1x=";\r\n' +
      '\tdmarc=pass (p=REJECT) header.from=sender.example\r\n',
  );
});

test('untrusted text cannot break out of a comment or a value, nor start a new line', () => {
  const verdict: AuthVerdict = {
    results: [{ method: 'spf', result: 'temperror', comment: 'lookup of (x) failed\r\nX-Injected: 1', properties: [['smtp.mailfrom', 'a b"c@x\r\nY: 2']] }],
    dmarc: { result: 'none' },
    temporaryFailure: true,
  };
  const field = formatAuthenticationResults('mx', verdict);
  assert.equal(field, 'Authentication-Results: mx;\r\n\tspf=temperror (lookup of \\(x\\) failed X-Injected: 1) smtp.mailfrom="a b\\"c@x Y: 2"\r\n');
});

test('the authserv-id is the first value, after comments and folding whitespace, token or quoted-string', () => {
  assert.equal(authservIdOf(' mx.example.net; spf=pass'), 'mx.example.net');
  assert.equal(authservIdOf(' (a (nested) comment)\t MX.Example.NET 1; none'), 'MX.Example.NET');
  assert.equal(authservIdOf(' "mx.example.net"; none'), 'mx.example.net');
  assert.equal(authservIdOf(' ; none'), undefined);
});

test('an arriving Authentication-Results claiming our authserv-id is removed, folded lines and all; others stay', () => {
  const message = Buffer.from(
    'Authentication-Results: MX.example.net;\r\n\tdkim=pass header.d=bank.example\r\n' +
      'From: a@bank.example\r\n' +
      'Authentication-Results: other.example; spf=fail\r\n' +
      'Authentication-Results: (forged) mx.example.net; dmarc=pass\r\n' +
      'Subject: hi\r\n' +
      '\r\n' +
      'Authentication-Results: mx.example.net; in the body, left alone\r\n',
  );
  assert.equal(
    joined(withoutClaimsOf(message, 'mx.example.net')),
    'From: a@bank.example\r\n' + 'Authentication-Results: other.example; spf=fail\r\n' + 'Subject: hi\r\n' + '\r\n' + 'Authentication-Results: mx.example.net; in the body, left alone\r\n',
  );
});

test('a message with no claim of ours is handed back whole, as one slice of the same bytes', () => {
  const message = Buffer.from('From: a@b.example\r\n\r\nbody\r\n');
  const parts = withoutClaimsOf(message, 'mx.example.net');
  assert.equal(parts.length, 1);
  assert.equal(parts[0]!.buffer, message.buffer);
  assert.equal(joined(parts), message.toString('latin1'));
});
