// The configured DNS resolver: the DNS_SERVERS syntax, and a server that never answers turning into an
// ETIMEOUT error by the deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createDnsLookup, parseDnsServers } from './dns.js';

test('DNS_SERVERS: addresses with optional ports, IPv6 in brackets when a port follows; empty = the system', () => {
  assert.deepEqual(parseDnsServers(''), []);
  assert.deepEqual(parseDnsServers('127.0.0.1:5353, [::1]:53,192.0.2.1,::1'), ['127.0.0.1:5353', '[::1]:53', '192.0.2.1', '::1']);
  assert.throws(() => parseDnsServers('dns.example:53'), /bad DNS server "dns\.example:53"/);
  assert.throws(() => parseDnsServers('127.0.0.1:70000'), /bad DNS server/);
});

test('a server that takes the query and never answers gives ETIMEOUT at the deadline', async () => {
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  let asked = 0;
  silent.on('message', () => asked++);
  try {
    const lookup = createDnsLookup({ servers: [`127.0.0.1:${silent.address().port}`], timeoutMs: 300 });
    await assert.rejects(lookup('example.test', 'TXT'), (err: NodeJS.ErrnoException) => err.code === 'ETIMEOUT');
    assert.ok(asked >= 1);
  } finally {
    silent.close();
  }
});
