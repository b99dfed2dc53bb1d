// The delivery ledger against a real nats-server, seen from two replicas (two connections): claims,
// answers kept, claims given back, lapsed and renewed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kvm } from '@nats-io/kv';
import { DELIVERY_LEDGER_BUCKET } from '@mail/contracts';
import { withTwoNatsClients } from '@mail/testing';
import { DeliveryLedger, ledgerKey } from './ledger.js';

const KEEP = { keepMs: 3_600_000 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a recipient answered for good is not sent again; one being delivered is left to its attempt; a deferral gives the claim back', async () => {
  await withTwoNatsClients(async (a, b) => {
    const one = await DeliveryLedger.open(a, { claimMs: 60_000, ...KEEP });
    const two = await DeliveryLedger.open(b, { claimMs: 60_000, ...KEEP });
    const recipients = ['ok@remote.test', 'gone@remote.test', 'later@remote.test'];
    const first = await one.claim('Q1', 'Q1.1', recipients);
    assert.deepEqual(first.mine, recipients);
    assert.deepEqual([first.answered, first.busy], [[], []]);

    // A second attempt while the first runs (a queue-manager that took over sent the message again).
    const during = await two.claim('Q1', 'Q1.2', recipients);
    assert.deepEqual(during.mine, []);
    assert.deepEqual(during.busy.map((r) => [r.recipient, r.outcome]), recipients.map((r) => [r, 'temporary']));
    await during.finish([]);

    await first.finish([
      { recipient: 'ok@remote.test', outcome: 'delivered', reply: '250 2.0.0 queued as 1', remoteMta: 'mx.remote.test', handoff: 'relayed-without-dsn' },
      { recipient: 'gone@remote.test', outcome: 'permanent', reply: '550 5.1.1 no such user', remoteMta: 'mx.remote.test' },
      { recipient: 'later@remote.test', outcome: 'temporary', reply: '451 4.7.1 try later', remoteMta: 'mx.remote.test' },
    ]);
    const after = await two.claim('Q1', 'Q1.3', recipients);
    assert.deepEqual(after.mine, ['later@remote.test'], 'the deferred recipient is free to go at once');
    assert.deepEqual(after.answered, [
      { recipient: 'ok@remote.test', outcome: 'delivered', reply: '250 2.0.0 queued as 1', remoteMta: 'mx.remote.test', handoff: 'relayed-without-dsn' },
      { recipient: 'gone@remote.test', outcome: 'permanent', reply: '550 5.1.1 no such user', remoteMta: 'mx.remote.test' },
    ]);
    await after.finish([{ recipient: 'later@remote.test', outcome: 'delivered', reply: '250 ok' }]);
    const other = await one.claim('Q2', 'Q2.1', ['ok@remote.test']);
    assert.deepEqual(other.mine, ['ok@remote.test'], 'another message to the same recipient is its own');
    await other.finish([]);
  });
});

test('a claim is renewed while its attempt runs, lapses when its process is gone, and is taken over by a repeat of the same job', async () => {
  await withTwoNatsClients(async (a, b) => {
    const claimMs = 1500;
    const one = await DeliveryLedger.open(a, { claimMs, ...KEEP });
    const two = await DeliveryLedger.open(b, { claimMs, ...KEEP });
    const running = await one.claim('Q3', 'Q3.1', ['slow@remote.test']);
    await sleep(claimMs * 2); // past its first end: renewed meanwhile
    assert.deepEqual((await two.claim('Q3', 'Q3.2', ['slow@remote.test'])).busy.length, 1, 'still being delivered');

    // The same job handed out again (its batch redelivered after the process died): taken over at once.
    const again = await two.claim('Q3', 'Q3.1', ['slow@remote.test']);
    assert.deepEqual(again.mine, ['slow@remote.test']);
    await again.finish([]);
    await running.finish([]);

    // A claim whose process died: nothing renews it, and once its end has passed another attempt takes it.
    const dying = await one.claim('Q4', 'Q4.1', ['x@remote.test']);
    const later = await DeliveryLedger.open(b, { claimMs, ...KEEP }, () => Date.now() + 10 * claimMs);
    const takeover = await later.claim('Q4', 'Q4.2', ['x@remote.test']);
    assert.deepEqual(takeover.mine, ['x@remote.test'], 'a lapsed claim is taken over');
    await takeover.finish([{ recipient: 'x@remote.test', outcome: 'delivered', reply: '250 ok' }]);
    await dying.finish([]); // the old attempt's give-back does not undo the answer written since
    assert.equal((await two.claim('Q4', 'Q4.3', ['x@remote.test'])).answered[0]?.reply, '250 ok');
  });
});

test('an unreadable record is taken over; keys hold any address', async () => {
  await withTwoNatsClients(async (a) => {
    const ledger = await DeliveryLedger.open(a, { claimMs: 60_000, ...KEEP });
    const kv = await new Kvm(a.js).open(DELIVERY_LEDGER_BUCKET);
    const odd = '"very odd\\ local"@[IPv6:2001:db8::1]';
    await kv.put(ledgerKey('Q5', odd), 'not json');
    const claim = await ledger.claim('Q5', 'Q5.1', [odd, 'ünï@bücher.example']);
    assert.deepEqual(claim.mine, [odd, 'ünï@bücher.example']);
    await claim.finish([]);
    assert.match(ledgerKey('Q5', odd), /^Q5\.[0-9a-f]{32}$/);
  });
});
