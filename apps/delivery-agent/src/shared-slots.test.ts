// Shared domain slots against a real nats-server: the limit holds across two "replicas", a release
// frees a slot, and the slot of a holder that vanished comes back when its lease runs out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { connectNats, type NatsContext } from '@mail/platform';
import { startNatsServer } from '@mail/testing';
import { SharedDomainSlots } from './shared-slots.js';

async function withNats(run: (a: NatsContext, b: NatsContext) => Promise<void>) {
  const server = await startNatsServer(await mkdtemp(join(tmpdir(), 'slots-')));
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
