// The queue-manager lease against a real nats-server: one holder at a time, a hand-over on release,
// the same instance taking its own lease back at once after a restart, and a holder that finds the
// lease in other hands told so.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { Kvm } from '@nats-io/kv';
import { withTwoNatsClients } from '@mail/testing';
import { campaign, LEADER_BUCKET } from './leadership.js';


const settledWithin = (promise: Promise<unknown>, ms: number) =>
  Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);

test('one holder at a time; the other takes over as soon as the holder releases', async () => {
  await withTwoNatsClients(async (a, b) => {
    const first = await campaign(a, 'replica-1', 3000, () => assert.fail('replica-1 lost its lease'));
    await first.acquired;
    const second = await campaign(b, 'replica-2', 3000, () => undefined);
    assert.equal(await settledWithin(second.acquired, 4500), false, 'a renewed lease is not taken, even past its TTL');
    await first.release();
    assert.equal(await settledWithin(second.acquired, 2000), true, 'released: the standby takes over at once');
    await second.release();
  });
});

test('a restarted process with the same instance name takes its lease back without waiting', async () => {
  await withTwoNatsClients(async (a, b) => {
    const before = await campaign(a, 'replica-1', 10_000, () => undefined);
    await before.acquired;
    // The process dies (no release); its successor, same name, comes up well inside the lease.
    const after = await campaign(b, 'replica-1', 10_000, () => undefined);
    assert.equal(await settledWithin(after.acquired, 1500), true);
    await after.release();
    await before.release();
  });
});

test('a holder whose lease is now held by another replica is told, and stops', async () => {
  await withTwoNatsClients(async (a, b) => {
    let lost = false;
    const holder = await campaign(a, 'replica-1', 1500, () => (lost = true));
    await holder.acquired;
    const kv = await new Kvm(b.js).open(LEADER_BUCKET);
    await kv.put('queue-manager', 'replica-9'); // another replica holds it now (say, after a partition)
    const deadline = Date.now() + 5000;
    while (!lost && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(lost, true);
    await holder.release();
  });
});
