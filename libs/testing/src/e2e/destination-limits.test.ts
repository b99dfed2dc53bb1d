// Per-destination connection limits hold for the whole cluster: with two delivery-agent replicas and
// at most one connection per recipient domain, a slow remote MX never sees two connections at once,
// and every message still arrives once.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { smtplibSend } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { freePort } from '@mail/launcher';
import { ScriptedSmtpServer } from '../scripted-smtp.js';
import { startSystemWithUsers } from './helpers.js';

describe('per-destination limits across delivery-agent replicas', () => {
  let system: MailSystem;
  const slow = new ScriptedSmtpServer({ dataDelayMs: 400 });
  before(async () => {
    const port = await slow.start();
    system = await startSystemWithUsers(['sender@example.test'], {
      env: {
        SMTP_RELAY_NETWORKS: '127.0.0.1/32',
        DELIVERY_TRANSPORT_MAP: `slow.test=127.0.0.1:${port}`,
        DELIVERY_MAX_CONNECTIONS_PER_DOMAIN: '1',
        DELIVERY_CONCURRENCY: '4',
      },
    });
    const httpPort = await freePort();
    await system.startReplica('delivery-agent', { DELIVERY_HTTP_PORT: String(httpPort) }, httpPort);
  });
  after(async () => {
    await slow.stop();
    await system?.stop();
  });

  test('at most one connection at a time to slow.test, and all six messages delivered once', async () => {
    const messages = Array.from({ length: 6 }, (_, i) => ({
      from: 'sender@example.test',
      to: [`r${i}@slow.test`],
      data: Buffer.from(`Subject: limited ${i}\r\n\r\nx\r\n`),
    }));
    const results = await smtplibSend(system.smtpPort, messages);
    assert.ok(results.every((r) => r.ok));
    const deadline = Date.now() + 60_000;
    while (slow.transactions.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.equal(slow.transactions.length, 6);
    assert.equal(slow.maxConcurrent, 1, 'never two connections to the domain at once');
    const recipients = slow.transactions.flatMap((t) => t.recipients).sort();
    assert.deepEqual(recipients, messages.map((m) => m.to[0]).sort());
  });
});
