// Crash safety: kill -9 delivery-agent, mailbox-store and queue-manager in the middle of a stream of
// messages, restart them, and show that every message accepted with 250 arrives exactly once — with
// 1,000 deferred entries (mail for a domain whose server is down) in the queue all along, which must
// all still be there, deferred, at the end.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { poplibFetch, RawClient, smtplibSend } from '../clients.js';
import { freePort } from '@mail/launcher';
import { SERVICE_NAMES, type MailSystem, type ServiceName } from '../mail-system.js';
import { PASSWORD, startSystemWithUsers, waitForMessageCount } from './helpers.js';

const USER = 'crash@example.test';
const TOTAL = 120;
const DEFERRED = 1000;

/** One SMTP transaction; resolves with the final reply code (0 when the connection failed). */
async function sendOne(port: number, n: number): Promise<number> {
  let client: RawClient | undefined;
  try {
    client = await RawClient.connect(port);
    await client.reply();
    await client.command('EHLO crash.test');
    if (!(await client.command('MAIL FROM:<load@remote.test>')).startsWith('250')) return 0;
    const rcpt = await client.command(`RCPT TO:<${USER}>`);
    if (!rcpt.startsWith('250')) return Number(rcpt.slice(0, 3));
    await client.command('DATA');
    client.send(`Subject: crash-${n}\r\nMessage-ID: <crash-${n}@remote.test>\r\n\r\nmessage number ${n}\r\n.\r\n`);
    const final = await client.reply(30_000);
    await client.command('QUIT').catch(() => undefined);
    return Number(final.slice(0, 3));
  } catch {
    return 0;
  } finally {
    client?.close();
  }
}

describe('crash safety of the queue and the store', () => {
  let system: MailSystem;
  before(async () => {
    const downPort = await freePort(); // nothing listens: every attempt to down.test fails
    system = await startSystemWithUsers([USER], {
      env: {
        DELIVERY_ACK_WAIT_MS: '5000',
        QUEUE_LOCAL_JOB_TIMEOUT: '5000',
        QUEUE_ACK_WAIT_MS: '5000',
        SMTP_RELAY_NETWORKS: '127.0.0.1/32',
        DELIVERY_TRANSPORT_MAP: `down.test=127.0.0.1:${downPort}`,
        QUEUE_RETRY_SCHEDULE: '10m',
      },
    });
    for (let i = 0; i < DEFERRED; i += 100) {
      const batch = Array.from({ length: 100 }, (_, j) => ({ from: 'load@remote.test', to: [`r${i + j}@down.test`], data: Buffer.from(`Subject: deferred ${i + j}\r\n\r\nx\r\n`) }));
      assert.ok((await smtplibSend(system.smtpPort, batch)).every((r) => r.ok));
    }
  });
  after(async () => {
    await system?.stop();
  });

  test('every message accepted with 250 arrives exactly once despite kill -9 of services', async () => {
    const accepted: number[] = [];
    const crashes: Record<number, ServiceName[]> = {
      20: ['delivery-agent'],
      45: ['mailbox-store'],
      70: ['delivery-agent', 'mailbox-store'],
      95: ['queue-manager', 'delivery-agent'],
    };
    let restart: Promise<void> = Promise.resolve();
    for (let n = 1; n <= TOTAL; n++) {
      const victims = crashes[n];
      if (victims) {
        await restart; // one crash at a time
        for (const name of victims) await system.kill(name);
        // Restart in the background while the sending goes on (and is refused for a while).
        restart = (async () => {
          await new Promise((r) => setTimeout(r, 300));
          // In dependency order: a delivery-agent is ready only once mailbox-store answers.
          for (const name of [...victims].sort((a, b) => SERVICE_NAMES.indexOf(a) - SERVICE_NAMES.indexOf(b))) await system.start(name);
        })();
      }
      // Like a real client: a temporary failure is retried a little later.
      for (let attempt = 1; attempt <= 50; attempt++) {
        const code = await sendOne(system.smtpPort, n);
        if (code === 250) {
          accepted.push(n);
          break;
        }
        assert.ok(code === 0 || (code >= 400 && code < 500), `message ${n}: unexpected reply ${code}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await restart;
    assert.ok(accepted.length >= TOTAL * 0.9, `only ${accepted.length} of ${TOTAL} accepted`);
    await waitForMessageCount(system, USER, accepted.length, 120_000);
    await new Promise((r) => setTimeout(r, 2000)); // duplicates, if any, would show up now
    const fetched = await poplibFetch(system.pop3Port, USER, PASSWORD);
    const numbers = fetched.messages.map((m) => Number(/Subject: crash-(\d+)/.exec(m.toString())![1]));
    assert.deepEqual(
      [...numbers].sort((a, b) => a - b),
      accepted,
      'the maildrop holds exactly the accepted messages, each once',
    );
    const list = await system.mailctl(['queue', 'list', '--json']);
    const queued = JSON.parse(list.stdout) as { destinations: { recipient: string; state: string; attempts: number }[] }[];
    const deferred = queued.flatMap((m) => m.destinations).filter((d) => d.recipient.endsWith('@down.test'));
    assert.equal(deferred.length, DEFERRED, 'every deferred entry survived the crashes');
    assert.ok(deferred.every((d) => d.state === 'pending'), 'and is still pending');
  });
});
