// One slow destination never stalls the rest (issue: the queue core). 2,000 messages wait for a remote
// domain whose server answers every command after 3 s and takes one connection at a time; mail for a
// local user and for a healthy remote domain sent after them still arrives at once. The latency is
// reported here and measured in `npm run bench`; the test asserts the behaviour with a wide margin.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { smtplibSend } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { ScriptedSmtpServer } from '../scripted-smtp.js';
import { startSystemWithUsers, waitForMessageCount } from './helpers.js';

const USER = 'alice@local.test';
const WAITING = 2000;

describe('head-of-line: a slow remote domain and the rest of the queue', () => {
  let system: MailSystem;
  const slow = new ScriptedSmtpServer({ replyDelayMs: 3000 });
  const healthy = new ScriptedSmtpServer();
  before(async () => {
    const slowPort = await slow.start();
    const healthyPort = await healthy.start();
    system = await startSystemWithUsers([USER], {
      env: {
        SMTP_RELAY_NETWORKS: '127.0.0.1/32',
        DELIVERY_TRANSPORT_MAP: `slow.test=127.0.0.1:${slowPort},healthy.test=127.0.0.1:${healthyPort}`,
        DELIVERY_DOMAIN_LIMITS: 'slow.test=1/0',
        DELIVERY_DESTINATION_BACKOFF_MS: '0',
      },
    });
  });
  after(async () => {
    await slow.stop();
    await healthy.stop();
    await system?.stop();
  });

  test(`with ${WAITING} messages waiting on slow.test, local mail and a healthy domain's mail arrive at once`, async () => {
    const batches = [];
    for (let i = 0; i < WAITING; i += 100) {
      batches.push(
        Array.from({ length: Math.min(100, WAITING - i) }, (_, j) => ({
          from: 'sender@local.test',
          to: [`r${i + j}@slow.test`],
          data: Buffer.from(`Subject: waiting ${i + j}\r\n\r\nslow\r\n`),
        })),
      );
    }
    for (let i = 0; i < batches.length; i += 4) {
      const results = (await Promise.all(batches.slice(i, i + 4).map((batch) => smtplibSend(system.smtpPort, batch)))).flat();
      assert.ok(results.every((r) => r.ok), 'every waiting message accepted');
    }

    // Local mail, one message at a time: accepted, then visible in the maildrop.
    const latencies: number[] = [];
    for (let n = 1; n <= 10; n++) {
      const started = Date.now();
      const [sent] = await smtplibSend(system.smtpPort, [{ from: 'sender@local.test', to: [USER], data: Buffer.from(`Subject: local ${n}\r\n\r\nfast\r\n`) }]);
      assert.ok(sent!.ok);
      await waitForMessageCount(system, USER, n, 30_000);
      latencies.push(Date.now() - started);
    }
    latencies.sort((a, b) => a - b);
    console.log(`local mail behind ${WAITING} slow messages: p50 ${latencies[4]} ms, max ${latencies[9]} ms`);

    // A healthy remote domain flows beside slow.test.
    const started = Date.now();
    const healthyMessages = Array.from({ length: 50 }, (_, i) => ({ from: 'sender@local.test', to: [`h${i}@healthy.test`], data: Buffer.from(`Subject: healthy ${i}\r\n\r\nok\r\n`) }));
    assert.ok((await smtplibSend(system.smtpPort, healthyMessages)).every((r) => r.ok));
    const deadline = Date.now() + 30_000;
    while (healthy.transactions.length < 50 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(healthy.transactions.length, 50, 'all 50 messages to healthy.test delivered');
    console.log(`50 messages to healthy.test delivered in ${Date.now() - started} ms`);

    assert.equal(slow.maxConcurrent, 1, 'slow.test never had more than its one connection');
    const list = await system.mailctl(['queue', 'list', '--json']);
    const queued = JSON.parse(list.stdout) as { destinations: { recipient: string }[] }[];
    assert.ok(queued.length >= WAITING - 20, `the slow messages are still queued (${queued.length})`);
    assert.ok(queued.every((m) => m.destinations.every((d) => d.recipient.endsWith('@slow.test'))), 'only slow.test mail is left');
  });
});
