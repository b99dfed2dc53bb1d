// A full JetStream degrades and recovers by itself (issue: broker lifecycle, item 1). nats-server gets
// a 20 MB file store; with queue-manager stopped (nothing leaves the spool: mailbox-store, which takes
// the local lane, gets no jobs), 200 KB messages are sent until intake answers 451.
// Once queue-manager is back, every message that got a 250 reaches the mailbox and the queue drains
// (results and queue state still have room: the spool has a budget of its own below the store's limit),
// the store's space is given back (item 4), and new mail is accepted again.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { connectNats, loadNatsSettings } from '@mail/platform';
import { smtplibSend } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { startSystemWithUsers, waitForMessageCount } from './helpers.js';

const USER = 'alice@example.test';
const STORE_BYTES = 20 * 1024 * 1024;
const SPOOL_BYTES = 16 * 1024 * 1024;

const message = (n: number, bytes: number) =>
  Buffer.from(`From: bob@remote.test\r\nTo: ${USER}\r\nSubject: fill ${n}\r\n\r\n${`${'y'.repeat(76)}\r\n`.repeat(Math.ceil(bytes / 78))}`);

async function send(system: MailSystem, from: number, count: number, bytes: number) {
  const batch = Array.from({ length: count }, (_, i) => ({ from: 'bob@remote.test', to: [USER], data: message(from + i, bytes) }));
  return smtplibSend(system.smtpPort, batch);
}

describe('a full JetStream store', () => {
  let system: MailSystem;
  before(async () => {
    // The spool may take 16 of the 20 MB: the rest is the drain path's.
    system = await startSystemWithUsers([USER], { natsConfig: `jetstream {\n  max_file_store: ${STORE_BYTES}\n}\n`, env: { NATS_SPOOL_MAX_BYTES: String(SPOOL_BYTES) } });
  });
  after(async () => {
    await system?.stop();
  });

  test('refuses with 451 when full, delivers every accepted message once room returns, then accepts again', async () => {
    await system.kill('queue-manager');
    let accepted = 0;
    let refused = 0;
    for (let sent = 0; sent < 150; sent += 50) {
      for (const reply of await send(system, sent, 50, 200 * 1024)) {
        if (reply.ok) accepted++;
        else {
          assert.equal(reply.code, 451, `a full store is a temporary refusal: ${reply.code} ${reply.text}`);
          refused++;
        }
      }
    }
    assert.ok(accepted > 0 && refused > 0, `the store filled up: ${accepted} accepted, ${refused} refused`);
    await system.start('queue-manager');
    assert.equal(await waitForMessageCount(system, USER, accepted, 120_000), accepted, 'every 250 was delivered');
    // The space is given back (nats-server 2.9 kept counting deleted spool messages against the store).
    const nats = await connectNats(system.natsUrl, 'broker-full-test', pino({ level: 'silent' }), loadNatsSettings(system.natsAuth.env('queue-manager')));
    try {
      let used = Infinity;
      for (let tries = 0; tries < 100 && used > 2 * 1024 * 1024; tries++) {
        await new Promise((r) => setTimeout(r, 200));
        used = (await nats.jsm.getAccountInfo()).storage;
      }
      assert.ok(used <= 2 * 1024 * 1024, `JetStream still holds ${used} bytes after the queue drained`);
    } finally {
      await nats.nc.close();
    }
    // Room came back by itself: new mail is accepted and delivered.
    const later = await send(system, 1000, 5, 1024);
    assert.deepEqual(later.map((r) => r.code), [250, 250, 250, 250, 250]);
    assert.equal(await waitForMessageCount(system, USER, accepted + 5, 60_000), accepted + 5);
  });
});
