// Cluster-wide per-domain limits against a real nats-server, seen from two "replicas" (two
// connections): the back-off of a failing destination.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withTwoNatsClients } from '@mail/testing';
import { SharedDomainBackoff, domainKey } from './shared-limits.js';


test('a back-off set by one replica is seen by the other, clears, and expires by itself', async () => {
  await withTwoNatsClients(async (a, b) => {
    const one = await SharedDomainBackoff.open(a, 1500);
    const two = await SharedDomainBackoff.open(b, 1500);
    await one.set('failing.example', 'connection refused');
    assert.equal(await two.get('failing.example'), 'connection refused');
    await two.clear('failing.example');
    assert.equal(await one.get('failing.example'), undefined);
    await one.set('failing.example', 'timeout');
    const deadline = Date.now() + 10_000;
    while ((await two.get('failing.example')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    assert.equal(await two.get('failing.example'), undefined, 'expired with the TTL');
  });
});

test('domain keys are valid KV keys and case-insensitive', () => {
  assert.equal(domainKey('Example.COM'), 'example.com');
  assert.match(domainKey('bücher.example'), /^x[0-9a-f]+$/);
});
