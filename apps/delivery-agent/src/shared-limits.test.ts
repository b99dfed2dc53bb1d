// Cluster-wide per-domain limits against a real nats-server, seen from two "replicas" (two
// connections): connection slots, the message rate, and the destination back-off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { connectNats, type NatsContext } from '@mail/platform';
import { startNatsServer } from '@mail/testing';
import { SharedDomainBackoff, SharedDomainRate, domainKey } from './shared-limits.js';
import { SharedDomainSlots } from './shared-slots.js';

async function withNats(run: (a: NatsContext, b: NatsContext) => Promise<void>) {
  const server = await startNatsServer(await mkdtemp(join(tmpdir(), 'limits-')));
  const logger = pino({ level: 'silent' });
  const a = await connectNats(server.url, 'a', logger);
  const b = await connectNats(server.url, 'b', logger);
  try {
    await run(a, b);
  } finally {
    await a.nc.close();
    await b.nc.close();
    await server.stop();
  }
}

test('the message rate is counted for the whole cluster, per window, and concurrent admissions never overshoot', async () => {
  await withNats(async (a, b) => {
    const one = await SharedDomainRate.open(a, 60_000);
    const two = await SharedDomainRate.open(b, 60_000);
    const now = 120_000_000;
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? one : two).admit('example.com', 5, now)));
    assert.equal(results.filter((wait) => wait === 0).length, 5, 'five admitted in all');
    assert.ok(results.filter((wait) => wait > 0).every((wait) => wait === 60_000), 'the rest wait for the next window');
    assert.equal(await one.admit('example.com', 5, now + 60_000), 0, 'a new window starts a new count');
    assert.equal(await one.admit('other.example', 5, now), 0, 'each domain has its own count');
    assert.equal(await one.admit('example.com', 0, now), 0, 'zero means no limit');
  });
});

test('a back-off set by one replica is seen by the other, clears, and expires by itself', async () => {
  await withNats(async (a, b) => {
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

test('two replicas share the limit: with 2 slots, a third holder waits until one is released', async () => {
  await withNats(async (a, b) => {
    const one = await SharedDomainSlots.open(a, 5000);
    const two = await SharedDomainSlots.open(b, 5000);
    const first = await one.tryAcquire('example.com', 2);
    const second = await two.tryAcquire('example.com', 2);
    assert.ok(first && second);
    assert.equal(await one.tryAcquire('example.com', 2), undefined);
    assert.equal(await two.tryAcquire('example.com', 2), undefined);
    assert.ok(await two.tryAcquire('other.example', 2), 'another domain has its own slots');
    await first();
    const third = await two.tryAcquire('example.com', 2);
    assert.ok(third, 'a released slot is free again');
    await second();
    await third!();
  });
});

test('the slot of a holder that stopped refreshing comes back after the lease', async () => {
  await withNats(async (a, b) => {
    const crashed = await SharedDomainSlots.open(a, 1500);
    const survivor = await SharedDomainSlots.open(b, 1500);
    assert.ok(await crashed.tryAcquire('slow.example', 1));
    await a.nc.close(); // the holder dies: nobody refreshes its key
    assert.equal(await survivor.tryAcquire('slow.example', 1), undefined);
    const deadline = Date.now() + 10_000;
    let release: (() => Promise<void>) | undefined;
    while (!release && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      release = await survivor.tryAcquire('slow.example', 1);
    }
    assert.ok(release, 'the expired slot is taken over');
    await release!();
  });
});

test('internationalised domains get valid keys', async () => {
  await withNats(async (a) => {
    const slots = await SharedDomainSlots.open(a, 5000);
    const release = await slots.tryAcquire('bücher.example', 1);
    assert.ok(release);
    assert.equal(await slots.tryAcquire('bücher.example', 1), undefined);
    await release!();
  });
});
