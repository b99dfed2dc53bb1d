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
export async function waitForMessageCount(system: MailSystem, user: string, count: number, timeoutMs = 60_000): Promise<number> {
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
  original: Buffer;
}

/** Splits a delivered message into the trace headers we added (Return-Path, Received) and the rest. */
export function splitTrace(delivered: Buffer): DeliveredParts {
  const text = delivered.toString('latin1');
  const returnPath = /^Return-Path: <([^>]*)>\r\n/.exec(text);
  if (!returnPath) throw new Error(`no Return-Path first: ${JSON.stringify(text.slice(0, 200))}`);
  const afterReturnPath = text.slice(returnPath[0].length);
  const received = /^Received: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*/.exec(afterReturnPath);
  if (!received) throw new Error(`no Received next: ${JSON.stringify(afterReturnPath.slice(0, 200))}`);
  const offset = Buffer.byteLength(returnPath[0] + received[0], 'latin1');
  return { returnPath: returnPath[1]!, received: received[0], original: delivered.subarray(offset) };
}
