// Failed-login throttling across replicas: mailbox-store keeps the failures, so two smtp-ingress replicas
// (and pop3-access) share one count. Guesses spread over both replicas over STARTTLS still get the growing
// delay of the shared count and lock the account from that address on both replicas and in POP3, with the
// time to retry in the reply; every client here comes from 127.0.0.1, one address like a shared NAT, and
// another account's right password is accepted there all along. The operator sees the lock (mailctl auth
// locks), checks a password outside the throttle (auth test) and unlocks (auth unlock); a lock expires.
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { RawClient } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { freePort } from '@mail/launcher';
import { expectCli, PASSWORD, startSystemWithUsers } from './helpers.js';

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
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
    system = await startSystemWithUsers([ALICE, BOB], {
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
  async function submissionLogin(port: number, password: string, user = ALICE): Promise<{ reply: string; ms: number }> {
    const client = await RawClient.connect(port);
    try {
      await client.reply();
      await client.command('EHLO client.test');
      client.send('STARTTLS\r\n');
      assert.match(await client.reply(), /^220 /);
      await client.upgrade({ ca: caPem, servername: 'localhost' });
      assert.match(await client.command('EHLO client.test'), /AUTH PLAIN/);
      const started = performance.now();
      const reply = await client.command(`AUTH PLAIN ${b64(`\0${user}\0${password}`)}`);
      return { reply, ms: performance.now() - started };
    } finally {
      client.close();
    }
  }

  async function pop3Login(password: string, user = ALICE): Promise<string> {
    const client = await RawClient.connect(system.pop3Port);
    try {
      await client.reply();
      await client.command(`USER ${user}`);
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

  test('guesses alternating over two smtp-ingress replicas share one count: growing delay, then 454 with the time to retry on both and in POP3', async () => {
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
    for (const port of replicas) assert.match((await submissionLogin(port, PASSWORD)).reply, /^454 4\.7\.0 Too many failed authentications; try again in [1-3] seconds?\r?$/, `locked on ${port}`);
    assert.match(await pop3Login(PASSWORD), /^-ERR \[SYS\/TEMP\] Too many failed logins; try again in [1-3] seconds?/, 'pop3-access sees the lock set through SMTP');
    // Each replica counted the failures it answered (locked attempts are not failures).
    assert.equal(await authFailuresCounted(system.httpPorts['smtp-ingress']), MAX_FAILURES / 2);
    assert.equal(await authFailuresCounted(replicaHttpPort), MAX_FAILURES / 2);
  });

  test('from the same address (a shared NAT) another account\'s right password is accepted on every edge, while its wrong ones wait', async () => {
    assert.match((await submissionLogin(replicaSubmissionPort, PASSWORD, BOB)).reply, /^235 /);
    assert.match(await pop3Login(PASSWORD, BOB), /^\+OK/);
    // A wrong one is answered after the address's growing delay: the fifth failure from 127.0.0.1.
    const { reply, ms } = await submissionLogin(system.submissionPort, 'typo', BOB);
    assert.match(reply, /^535 /);
    const fifthDelay = DELAY_BASE_MS * 2 ** MAX_FAILURES;
    assert.ok(ms >= fifthDelay - 5, `waited ${ms} ms, expected at least ${fifthDelay}`);
    assert.match((await submissionLogin(system.submissionPort, PASSWORD, BOB)).reply, /^235 /, 'one typo does not lock Bob');
  });

  test('the lock expires after AUTH_LOCK_MS for every edge', async () => {
    await new Promise((resolve) => setTimeout(resolve, LOCK_MS + 300));
    assert.match((await submissionLogin(replicaSubmissionPort, PASSWORD)).reply, /^235 /);
    assert.match(await pop3Login(PASSWORD), /^\+OK/);
    assert.match((await submissionLogin(system.submissionPort, PASSWORD)).reply, /^235 /);
  });
});

describe('mailctl auth: locks, unlock, test', () => {
  let system: MailSystem;

  before(async () => {
    system = await startSystemWithUsers([ALICE, BOB], { env: { AUTH_MAX_FAILURES: '2', AUTH_DELAY_BASE_MS: '1', AUTH_DELAY_MAX_MS: '10', AUTH_LOCK_MS: '600000' } });
  });
  after(async () => {
    await system?.stop();
  });

  async function pop3Pass(user: string, password: string): Promise<string> {
    const client = await RawClient.connect(system.pop3Port);
    try {
      await client.reply();
      await client.command(`USER ${user}`);
      return await client.command(`PASS ${password}`);
    } finally {
      client.close();
    }
  }

  test('with nothing failed, auth locks says so', async () => {
    assert.equal(await expectCli(system, ['auth', 'locks']), 'no failed logins in the window\n');
  });

  test('auth locks shows the locked login first, with the address and account records after it', async () => {
    for (const guess of ['guess-1', 'guess-2']) assert.match(await pop3Pass(ALICE, guess), /^-ERR \[AUTH\]/);
    assert.match(await pop3Pass(ALICE, PASSWORD), /^-ERR \[SYS\/TEMP\] Too many failed logins; try again in 10 minutes/);
    const lines = (await expectCli(system, ['auth', 'locks'])).trimEnd().split('\n');
    assert.match(lines[0]!, /^KIND +CLIENT ADDRESS +ACCOUNT +FAILS +STATE$/);
    assert.match(lines[1]!, /^login +127\.0\.0\.1 +alice@example\.test +2 +locked until \S+Z \(\d+s\)$/);
    assert.deepEqual(lines.slice(2).map((l) => l.split(/ +/).slice(0, 4)).sort(), [
      ['account', '-', 'alice@example.test', '2'],
      ['address', '127.0.0.1', '-', '2'],
    ]);
    const json = JSON.parse(await expectCli(system, ['auth', 'locks', '--json'])) as Array<{ kind: string; lockedUntilMs: number }>;
    assert.equal(json[0]!.kind, 'login');
    assert.ok(json[0]!.lockedUntilMs > Date.now());
  });

  test('auth test checks a password outside the throttle: right is accepted while locked, wrong exits 1 and is not counted', async () => {
    assert.equal(await expectCli(system, ['auth', 'test', ALICE], `${PASSWORD}\n`), `auth succeeded: ${ALICE} is mailbox ${ALICE}\n`);
    const wrong = await system.mailctl(['auth', 'test', BOB], 'nope\n');
    assert.deepEqual([wrong.code, wrong.stdout, wrong.stderr], [1, '', `mailctl: auth failed for ${BOB}: unknown user or wrong password\n`]);
    assert.doesNotMatch(await expectCli(system, ['auth', 'locks']), /bob/, 'the operator\'s test counted nothing');
  });

  test('auth unlock needs an address or a user, then frees the login at once', async () => {
    const bare = await system.mailctl(['auth', 'unlock']);
    assert.deepEqual([bare.code, bare.stderr], [1, 'mailctl: give --address, --user, or both\n']);
    assert.equal(await expectCli(system, ['auth', 'unlock', '--user', BOB]), `nothing recorded for ${BOB}\n`);
    assert.equal(await expectCli(system, ['auth', 'unlock', '--address', '127.0.0.1', '--user', ALICE]), `unlocked ${ALICE} from 127.0.0.1 (1 record cleared)\n`);
    assert.match(await pop3Pass(ALICE, PASSWORD), /^\+OK/);
    assert.equal(await expectCli(system, ['auth', 'unlock', '--address', '127.0.0.1']), 'unlocked 127.0.0.1 (1 record cleared)\n');
    assert.equal(await expectCli(system, ['auth', 'unlock', '--user', ALICE]), `unlocked ${ALICE} (1 record cleared)\n`);
    assert.equal(await expectCli(system, ['auth', 'locks']), 'no failed logins in the window\n');
  });
});
