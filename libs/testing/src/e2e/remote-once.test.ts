// Remote delivery is idempotent, as local delivery is: a message handed out again while its remote attempt
// runs reaches the remote server once. The case is queue-manager's death during a first attempt, which
// lives in its memory only: the successor finds the message in the spool and sends it out afresh, while
// the first attempt is still waiting for the remote server's answer. The delivery ledger (delivery-agent)
// keeps the second attempt from connecting, and the first attempt's result settles the message.
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { smtplibSend } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { ScriptedSmtpServer } from '../scripted-smtp.js';
import { temporaryDirectory } from '../temporary-directories.js';
import { startSystemWithUsers, until, waitForEmptyQueue } from './helpers.js';

const ALICE = 'alice@example.test';
/** Long enough for queue-manager to die, come back and send the message again while the remote server still thinks. */
const ANSWER_AFTER_MS = 8_000;

describe('remote delivery once, across a queue-manager takeover', () => {
  let system: MailSystem;
  let dataDir = '';
  const slow = new ScriptedSmtpServer({ dataDelayMs: ANSWER_AFTER_MS });

  before(async () => {
    const port = await slow.start();
    dataDir = await temporaryDirectory('mail-e2e-');
    system = await startSystemWithUsers([ALICE], {
      dataDir,
      env: {
        SMTP_RELAY_NETWORKS: '127.0.0.1/32',
        DELIVERY_TRANSPORT_MAP: `slow.test=127.0.0.1:${port}`,
        DELIVERY_DESTINATION_BACKOFF_MS: '0',
        QUEUE_RETRY_SCHEDULE: '1s',
      },
    });
  });
  after(async () => {
    await slow.stop();
    await system?.stop();
  });

  test('a message sent again by the successor while its first attempt runs reaches the remote server once', { timeout: 120_000 }, async () => {
    const [sent] = await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['bob@slow.test'], data: Buffer.from('Subject: once\r\nMessage-ID: <once@example.test>\r\n\r\nonce\r\n') }]);
    assert.equal(sent!.ok, true);
    await until('the message at the remote server', () => (slow.dataAttempts >= 1 ? true : undefined));
    const handedOverAt = Date.now();
    await system.kill('queue-manager');
    await system.start('queue-manager');
    await waitForEmptyQueue(system, 60_000);
    assert.ok(Date.now() - handedOverAt < ANSWER_AFTER_MS + 30_000);
    await new Promise((resolve) => setTimeout(resolve, 2000)); // anything still on its way arrives
    assert.equal(slow.transactions.filter((t) => t.recipients.includes('bob@slow.test')).length, 1, 'delivered once');
    assert.equal(slow.dataAttempts, 1, 'sent once');
    // The successor did send it again: the ledger is what stopped it.
    const log = await readFile(join(dataDir, 'logs', 'delivery-agent.log'), 'utf8');
    assert.match(log, /"event":"delivery-repeat-avoided"[^\n]*"busy":\["bob@slow\.test"\]/);
  });
});
