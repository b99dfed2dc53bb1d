import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countHeader, getDecodedHeader, getHeader, parseHeaderBlock, parseHeaders } from './index.js';

test('folded header lines are unfolded by removing the line break only (RFC 5322 2.2.3)', () => {
  const headers = parseHeaders('Subject: hello\r\n  world\r\n\r\nbody');
  assert.equal(headers[0]!.value, 'hello  world');
  assert.equal(headers[0]!.raw, 'Subject: hello\r\n  world');
});

test('duplicate headers are kept in order and counted case-insensitively', () => {
  const headers = parseHeaders('Received: a\nreceived: b\nRECEIVED: c\nTo: x\n\n');
  assert.deepEqual(headers.map((h) => h.value), ['a', 'b', 'c', 'x']);
  assert.equal(countHeader(headers, 'Received'), 3);
  assert.equal(getHeader(headers, 'received'), 'a');
});

test('__proto__ and constructor are ordinary header names', () => {
  const headers = parseHeaders('__proto__: polluted\r\nconstructor: x\r\n\r\n');
  assert.equal(getHeader(headers, '__proto__'), 'polluted');
  assert.equal(getHeader(headers, 'constructor'), 'x');
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

test('obsolete white space before the colon is accepted (RFC 5322 4.5)', () => {
  assert.equal(getHeader(parseHeaders('Subject  : old style\n\n'), 'subject'), 'old style');
});

test('a line that is not a header ends the header section and starts the body', () => {
  const block = parseHeaderBlock('To: a@b\nthis is body\n');
  assert.equal(block.headers.length, 1);
  assert.equal(block.bodyOffset, 8);
  assert.deepEqual(block.defects, ['MissingHeaderBodySeparator']);
});

test('raw UTF-8 in headers is decoded (RFC 6532)', () => {
  assert.equal(getHeader(parseHeaders(Buffer.from('Subject: café\n\n')), 'subject'), 'café');
});

test('encoded words in a header are decoded on request', () => {
  assert.equal(getDecodedHeader(parseHeaders('Subject: =?utf-8?q?caf=C3=A9?=\n\n'), 'subject'), 'café');
});
