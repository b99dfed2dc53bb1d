// Helpers shared by the end-to-end suites.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawClient } from '../clients.js';
import { startMailSystem, type MailSystem, type MailSystemOptions } from '../mail-system.js';

export const DOMAIN = 'example.test';
export const PASSWORD = 'correct horse battery staple';

/** The mailbox-store backend of the end-to-end suites: E2E_STORE=mongo runs them on MongoDB. */
export const E2E_STORE: 'embedded' | 'mongo' = process.env.E2E_STORE === 'mongo' ? 'mongo' : 'embedded';

export async function startSystemWithUsers(users: string[], options: Partial<MailSystemOptions> = {}): Promise<MailSystem> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mail-e2e-'));
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

/** Polls the maildrop with STAT until it holds `count` messages (delivery is asynchronous). */
export async function waitForMessageCount(system: Pick<MailSystem, 'pop3Port'>, user: string, count: number, timeoutMs = 60_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  let seen = -1;
  for (;;) {
    const client = await RawClient.connect(system.pop3Port);
    try {
      await client.reply();
      await client.command(`USER ${user}`);
      const pass = await client.command(`PASS ${PASSWORD}`);
      if (pass.startsWith('+OK')) {
        const stat = await client.command('STAT');
        seen = Number(stat.split(' ')[1]);
        await client.command('QUIT');
      }
    } finally {
      client.close();
    }
    if (seen >= count) return seen;
    if (Date.now() > until) throw new Error(`${user} has ${seen} messages, expected ${count}`);
    await new Promise((r) => setTimeout(r, 200));
  }
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

