// Failed-login throttling across replicas: mailbox-store keeps the failures, so two smtp-ingress replicas
// (and pop3-access) share one count. Guesses spread over both replicas over STARTTLS still get the growing
// delay of the shared count and lock the account on both replicas and in POP3; the lock then expires.
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { RawClient } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { freePort } from '../ports.js';
import { PASSWORD, startSystemWithUsers } from './helpers.js';

const ALICE = 'alice@example.test';
const MAX_FAILURES = 4;
const DELAY_BASE_MS = 40;
const LOCK_MS = 3000;
const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('failed-login throttling shared by every replica of every edge', () => {
  let system: MailSystem;
  let caPem: string;
  let replicaSubmissionPort: number;
  let replicaHttpPort: number;

  before(async () => {
    system = await startSystemWithUsers([ALICE], {
      env: {
        AUTH_MAX_FAILURES: String(MAX_FAILURES),
        AUTH_FAILURE_WINDOW_MS: '60000',
        AUTH_DELAY_BASE_MS: String(DELAY_BASE_MS),
        AUTH_DELAY_MAX_MS: '1000',
        AUTH_LOCK_MS: String(LOCK_MS),
      },
    });
    caPem = await readFile(system.tlsCertFile, 'utf8');
    replicaSubmissionPort = await freePort();
    replicaHttpPort = await freePort();
    const ports = { SMTP_PORT: await freePort(), SMTP_SUBMISSION_PORT: replicaSubmissionPort, SMTPS_PORT: await freePort(), SMTP_HTTP_PORT: replicaHttpPort };
    await system.startReplica('smtp-ingress', Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])), replicaHttpPort);
  });
  after(async () => {
    await system?.stop();
  });

  /** One AUTH PLAIN over STARTTLS on a submission port: the reply, and how long it took. */
  async function submissionLogin(port: number, password: string): Promise<{ reply: string; ms: number }> {
    const client = await RawClient.connect(port);
    try {
      await client.reply();
      await client.command('EHLO client.test');
      client.send('STARTTLS\r\n');
      assert.match(await client.reply(), /^220 /);
      await client.upgrade({ ca: caPem, servername: 'localhost' });
      assert.match(await client.command('EHLO client.test'), /AUTH PLAIN/);
      const started = performance.now();
      const reply = await client.command(`AUTH PLAIN ${b64(`\0${ALICE}\0${password}`)}`);
      return { reply, ms: performance.now() - started };
    } finally {
      client.close();
    }
  }

  async function pop3Login(password: string): Promise<string> {
    const client = await RawClient.connect(system.pop3Port);
    try {
      await client.reply();
      await client.command(`USER ${ALICE}`);
      const reply = await client.command(`PASS ${password}`);
      if (reply.startsWith('+OK')) await client.command('QUIT');
      return reply;
    } finally {
      client.close();
    }
  }

  async function authFailuresCounted(httpPort: number): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    return Number(/^auth_failures_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
  }

  test('guesses alternating over two smtp-ingress replicas share one count: growing delay, then 454 on both and in POP3', async () => {
    const replicas = [system.submissionPort, replicaSubmissionPort];
    const delays: number[] = [];
    for (let i = 0; i < MAX_FAILURES; i++) {
      const { reply, ms } = await submissionLogin(replicas[i % 2]!, `guess-${i}`);
      assert.match(reply, /^535 5\.7\.8 /, `guess ${i + 1}`);
      delays.push(ms);
    }
    // The last guess is only the second on its replica; its delay is that of the fourth failure overall.
    const lastDelay = DELAY_BASE_MS * 2 ** (MAX_FAILURES - 1);
    assert.ok(delays[MAX_FAILURES - 1]! >= lastDelay - 5, `the ${MAX_FAILURES}th failure waited ${delays[MAX_FAILURES - 1]} ms, expected ${lastDelay}`);
    for (const port of replicas) assert.match((await submissionLogin(port, PASSWORD)).reply, /^454 4\.7\.0 /, `locked on ${port}`);
    assert.match(await pop3Login(PASSWORD), /^-ERR \[SYS\/TEMP\] /, 'pop3-access sees the lock set through SMTP');
    // Each replica counted the failures it answered (locked attempts are not failures).
    assert.equal(await authFailuresCounted(system.httpPorts['smtp-ingress']), MAX_FAILURES / 2);
    assert.equal(await authFailuresCounted(replicaHttpPort), MAX_FAILURES / 2);
  });

  test('the lock expires after AUTH_LOCK_MS for every edge', async () => {
    await new Promise((resolve) => setTimeout(resolve, LOCK_MS + 300));
    assert.match((await submissionLogin(replicaSubmissionPort, PASSWORD)).reply, /^235 /);
    assert.match(await pop3Login(PASSWORD), /^\+OK/);
    assert.match((await submissionLogin(system.submissionPort, PASSWORD)).reply, /^235 /);
  });
});
