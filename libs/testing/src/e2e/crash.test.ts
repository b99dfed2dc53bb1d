// Crash safety: kill -9 delivery-agent, mailbox-store and queue-manager in the middle of a stream of
// messages, restart them, and show that every message accepted with 250 arrives exactly once.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { poplibFetch, RawClient } from '../clients.js';
import { SERVICE_NAMES, type MailSystem, type ServiceName } from '../mail-system.js';
import { PASSWORD, startSystemWithUsers, waitForMessageCount } from './helpers.js';

const USER = 'crash@example.test';
const TOTAL = 120;

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
    system = await startSystemWithUsers([USER], { env: { DELIVERY_ACK_WAIT_MS: '5000', QUEUE_ACK_WAIT_MS: '5000' } });
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
  });
});
