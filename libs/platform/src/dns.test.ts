// The configured DNS resolver: the DNS_SERVERS syntax, and a server that never answers turning into an
// ETIMEOUT error by the deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { cachedLookup, createDnsLookup, parseDnsServers } from './dns.js';

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

test('answers are reused for the cache time, negative ones too; failures are not; questions in flight are shared', async () => {
  let clock = 0;
  const asked: string[] = [];
  const lookup = cachedLookup(
    async (name, rrtype) => {
      asked.push(`${rrtype} ${name}`);
      await new Promise((resolve) => setImmediate(resolve));
      if (name === 'missing.test') throw Object.assign(new Error('queryTxt ENOTFOUND missing.test'), { code: 'ENOTFOUND' });
      if (name === 'flaky.test') throw Object.assign(new Error('queryTxt ETIMEOUT flaky.test'), { code: 'ETIMEOUT' });
      return [['v=spf1 -all']];
    },
    { cacheMs: 60_000, maxEntries: 2, now: () => clock },
  );
  const [a, b] = await Promise.all([lookup('example.test', 'TXT'), lookup('EXAMPLE.test', 'TXT')]);
  assert.deepEqual(a, [['v=spf1 -all']]);
  assert.deepEqual(b, a);
  a[0]!.push('changed by a caller');
  assert.deepEqual(await lookup('example.test', 'TXT'), [['v=spf1 -all']], 'a caller cannot change the kept answer');
  assert.deepEqual(asked, ['TXT example.test'], 'one question for three lookups');

  await assert.rejects(lookup('missing.test', 'TXT'), /ENOTFOUND/);
  await assert.rejects(lookup('missing.test', 'TXT'), /ENOTFOUND/);
  await assert.rejects(lookup('flaky.test', 'TXT'), /ETIMEOUT/);
  await assert.rejects(lookup('flaky.test', 'TXT'), /ETIMEOUT/);
  assert.deepEqual(asked, ['TXT example.test', 'TXT missing.test', 'TXT flaky.test', 'TXT flaky.test'], 'a non-existent name is kept, a timeout is asked again');

  clock = 60_001;
  await lookup('example.test', 'TXT');
  assert.equal(asked.filter((q) => q === 'TXT example.test').length, 2, 'asked again once the cache time is over');
});

test('the cache keeps at most its number of answers, the oldest going first', async () => {
  const asked: string[] = [];
  const lookup = cachedLookup(async (name) => (asked.push(name), [name]), { cacheMs: 60_000, maxEntries: 2 });
  await lookup('a.test', 'TXT');
  await lookup('b.test', 'TXT');
  await lookup('c.test', 'TXT');
  await lookup('b.test', 'TXT');
  await lookup('a.test', 'TXT');
  assert.deepEqual(asked, ['a.test', 'b.test', 'c.test', 'a.test']);
});
