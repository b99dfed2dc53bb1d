// Helpers shared by the end-to-end suites.
import { RawClient } from '../clients.js';
import { startMailSystem, type MailSystem, type MailSystemOptions } from '../mail-system.js';
import { temporaryDirectory } from '../temporary-directories.js';

export const DOMAIN = 'example.test';
export const PASSWORD = 'correct horse battery staple';

/** The mailbox-store backend of the end-to-end suites: E2E_STORE=mongo runs them on MongoDB. */
export const E2E_STORE: 'embedded' | 'mongo' = process.env.E2E_STORE === 'mongo' ? 'mongo' : 'embedded';

export async function startSystemWithUsers(users: string[], options: Partial<MailSystemOptions> = {}): Promise<MailSystem> {
  const dataDir = options.dataDir ?? (await temporaryDirectory('mail-e2e-'));
  const system = await startMailSystem({ dataDir, echo: process.env.E2E_ECHO === '1', store: E2E_STORE, ...options });
  const domains = new Set(users.map((u) => u.slice(u.lastIndexOf('@') + 1)));
  for (const domain of domains) await expectCli(system, ['domain', 'add', domain]);
  for (const user of users) await expectCli(system, ['user', 'add', user], `${PASSWORD}\n`);
  return system;
}

export async function expectCli(system: MailSystem, args: string[], stdin?: string): Promise<string> {
  const result = await system.mailctl(args, stdin);
  if (result.code !== 0) throw new Error(`mailctl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** The number of messages in `user`'s maildrop now (one POP3 STAT), or -1 when the login fails. */
export async function messageCount(system: Pick<MailSystem, 'pop3Port'>, user: string): Promise<number> {
  const client = await RawClient.connect(system.pop3Port);
  try {
    await client.reply();
    await client.command(`USER ${user}`);
    const pass = await client.command(`PASS ${PASSWORD}`);
    if (!pass.startsWith('+OK')) return -1;
    const stat = await client.command('STAT');
    await client.command('QUIT');
    return Number(stat.split(' ')[1]);
  } finally {
    client.close();
  }
}

/**
 * Polls the maildrop with STAT until it holds at least `count` (≥ 1) messages (delivery is asynchronous).
 * Waiting for 0 would return at once and prove nothing: use assertNothingDelivered.
 */
export async function waitForMessageCount(system: Pick<MailSystem, 'pop3Port'>, user: string, count: number, timeoutMs = 60_000): Promise<number> {
  if (count < 1) throw new Error('waitForMessageCount waits for mail to arrive; for "nothing arrived" use assertNothingDelivered');
  const until = Date.now() + timeoutMs;
  for (;;) {
    const seen = await messageCount(system, user);
    if (seen >= count) return seen;
    if (Date.now() > until) throw new Error(`${user} has ${seen} messages, expected ${count}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Probes until it gives a value (not undefined or false), every 150 ms, or throws after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

export interface QueueListing {
  queueId: string;
  held: boolean;
  pending: number;
  sender: string;
  destinations: { recipient: string; state: string; attempts: number }[];
}

/** `mailctl queue list --json`: every message the queue holds, spooled heads not yet planned included. */
export async function queueList(system: MailSystem): Promise<QueueListing[]> {
  return JSON.parse(await expectCli(system, ['queue', 'list', '--json'])) as QueueListing[];
}

/**
 * Waits until the queue holds nothing: every message accepted so far has been delivered (or dropped),
 * so a duplicate or a late copy can no longer arrive.
 */
export async function waitForEmptyQueue(system: MailSystem, timeoutMs = 30_000): Promise<void> {
  // A listing that fails once (queue-manager busy, or restarting) is asked again until the deadline; the
  // last failure, with queue-manager's last lines, is the report if the deadline passes.
  let failure = '';
  try {
    await until(
      'an empty queue',
      async () => {
        try {
          const listing = await queueList(system);
          failure = '';
          return listing.length === 0 ? true : undefined;
        } catch (err) {
          failure = (err as Error).message;
          return undefined;
        }
      },
      timeoutMs,
    );
  } catch (err) {
    if (!failure) throw err;
    const recent = system.services['queue-manager'].output().split('\n').slice(-20).join('\n');
    throw new Error(`${(err as Error).message}; the last listing failed: ${failure}\nqueue-manager's last lines:\n${recent}`);
  }
}

/**
 * "Nothing was delivered to `user`", proved rather than slept for: waits until the queue is empty (a
 * message accepted is in the spool or the queue until delivered, and a notice is queued before the
 * message it reports on leaves), then finds the maildrop empty.
 */
export async function assertNothingDelivered(system: MailSystem, user: string, timeoutMs = 30_000): Promise<void> {
  await waitForEmptyQueue(system, timeoutMs);
  const count = await messageCount(system, user);
  if (count !== 0) throw new Error(`${user} has ${count} messages, expected none`);
}

export interface DeliveredParts {
  returnPath: string;
  received: string;
  /** Our Authentication-Results field (mail from unauthenticated clients), or '' when none was added. */
  authenticationResults: string;
  original: Buffer;
}

/** Splits a delivered message into the trace headers we added (Return-Path, Received, Authentication-Results) and the rest. */
export function splitTrace(delivered: Buffer): DeliveredParts {
  const text = delivered.toString('latin1');
  const returnPath = /^Return-Path: <([^>]*)>\r\n/.exec(text);
  if (!returnPath) throw new Error(`no Return-Path first: ${JSON.stringify(text.slice(0, 200))}`);
  const afterReturnPath = text.slice(returnPath[0].length);
  const received = /^Received: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*/.exec(afterReturnPath);
  if (!received) throw new Error(`no Received next: ${JSON.stringify(afterReturnPath.slice(0, 200))}`);
  const results = /^Authentication-Results: mx\.test\.local;[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*/.exec(afterReturnPath.slice(received[0].length));
  const authenticationResults = results?.[0] ?? '';
  const offset = Buffer.byteLength(returnPath[0] + received[0] + authenticationResults, 'latin1');
  return { returnPath: returnPath[1]!, received: received[0], authenticationResults, original: delivered.subarray(offset) };
}

/**
 * One SMTP transaction to all `recipients`: 'accepted' on 250 after DATA, 'unknown' when the
 * connection failed after the data was sent (it may or may not have been queued), else 'refused'.
 */
export async function sendTracked(port: number, id: string, recipients: string[], bytes: number): Promise<'accepted' | 'refused' | 'unknown'> {
  let client: RawClient | undefined;
  let dataSent = false;
  try {
    client = await RawClient.connect(port);
    await client.reply();
    await client.command('EHLO load.test');
    if (!(await client.command('MAIL FROM:<load@remote.test>')).startsWith('250')) return 'refused';
    for (const to of recipients) if (!(await client.command(`RCPT TO:<${to}>`)).startsWith('250')) return 'refused';
    if (!(await client.command('DATA')).startsWith('354')) return 'refused';
    const body = `${'z'.repeat(70)}\r\n`.repeat(Math.ceil(bytes / 72));
    dataSent = true;
    client.send(`Subject: tracked ${id}\r\nMessage-ID: <${id}>\r\nTo: ${recipients.join(', ')}\r\n\r\n${body}.\r\n`);
    const final = await client.reply(30_000);
    await client.command('QUIT').catch(() => undefined);
    return final.startsWith('250') ? 'accepted' : 'refused';
  } catch {
    return dataSent ? 'unknown' : 'refused';
  } finally {
    client?.close();
  }
}

/** The Message-ID of a fetched message, without angle brackets. */
export const messageIdOf = (message: Buffer) => /^Message-ID: <([^>]+)>/im.exec(message.toString('latin1'))?.[1] ?? '(none)';

