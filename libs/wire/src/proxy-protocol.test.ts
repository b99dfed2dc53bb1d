// PROXY protocol header parsing (v1 text, v2 binary), incomplete and malformed input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxyHeader } from './proxy-protocol.js';

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

test('v1 TCP4 and TCP6 give the source address and port, and how much was consumed', () => {
  const input = Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 40000 25\r\nEHLO x\r\n');
  assert.deepEqual(parseProxyHeader(input), { state: 'done', proxied: { address: '203.0.113.7', port: 40000 }, consumed: 43 });
  const v6 = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 1234 25\r\n'));
  assert.deepEqual(v6.state === 'done' && v6.proxied, { address: '2001:db8::1', port: 1234 });
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { state: 'done', proxied: {}, consumed: 15 });
});

test('v1: an incomplete header asks for more; a malformed or over-long one is invalid', () => {
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 203.0')).state, 'need-more');
  assert.equal(parseProxyHeader(Buffer.from('PRO')).state, 'need-more');
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 a b\r\n')).state, 'invalid');
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 99999 25\r\n')).state, 'invalid');
  assert.equal(parseProxyHeader(Buffer.from(`PROXY ${'x'.repeat(120)}`)).state, 'invalid');
  assert.equal(parseProxyHeader(Buffer.from('EHLO client\r\n')).state, 'invalid');
});

test('v2 PROXY over IPv4 and IPv6, and LOCAL', () => {
  const v4 = Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0, 12, 198, 51, 100, 9, 192, 0, 2, 1, 0x9c, 0x41, 0x01, 0xd1]), Buffer.from('rest')]);
  assert.deepEqual(parseProxyHeader(v4), { state: 'done', proxied: { address: '198.51.100.9', port: 40001 }, consumed: 28 });
  const v6body = Buffer.alloc(36);
  v6body.writeUInt16BE(0x2001, 0);
  v6body.writeUInt16BE(0x0db8, 2);
  v6body.writeUInt16BE(0x0001, 14);
  v6body.writeUInt16BE(5555, 32);
  const v6 = parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x21, 0x21, 0, 36]), v6body]));
  assert.equal(v6.state, 'done');
  assert.equal(v6.state === 'done' && v6.proxied.port, 5555);
  assert.match((v6.state === 'done' && v6.proxied.address) || '', /^2001:db8:/);
  assert.deepEqual(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x20, 0x00, 0, 0])])), { state: 'done', proxied: {}, consumed: 16 });
});

test('v2: truncated input asks for more; a wrong version is invalid', () => {
  assert.equal(parseProxyHeader(SIG.subarray(0, 8)).state, 'need-more');
  assert.equal(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0, 12, 1, 2])])).state, 'need-more');
  assert.equal(parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x31, 0x11, 0, 0])])).state, 'invalid');
});
