// This system for the benchmarks: nats-server and the five services (embedded store) in a temporary
// directory, with one domain and one user whose maildrop the benchmark counts.
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@mail/launcher';
import { startMailSystem } from '../dist/index.js';

/**
 * nats-server and the five services with their data in a new temporary directory (`prefix` names it);
 * `stop` stops them and removes the directory (a 200 KB load leaves more than a gigabyte of mail behind).
 */
export async function startSystemInTempDir(prefix, options = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), prefix));
  const removeData = () => rm(dataDir, { recursive: true, force: true });
  let system;
  try {
    system = await startMailSystem({ dataDir, ...options });
  } catch (err) {
    await removeData();
    throw err;
  }
  return {
    system,
    dataDir,
    stop: async () => {
      await system.stop();
      await removeData();
    },
  };
}

/**
 * `env`: settings for every service on top of the defaults. The peers (Postfix, Haraka, Dovecot) run
 * without SPF/DKIM/DMARC checks, so ours are off too (SMTP_AUTH_CHECKS=false) unless `env` says otherwise:
 * like is compared with like, and the checks' own cost is measured on its own.
 */
export async function startOurSystem(env = {}) {
  // nats-server's monitoring port (on loopback, its listening address): the broker's message counts.
  const monitorPort = await freePort();
  const { system, dataDir, stop } = await startSystemInTempDir('mail-bench-', { env: { SMTP_AUTH_CHECKS: 'false', ...env }, natsArgs: ['-m', String(monitorPort)] });
  await system.mailctl(['domain', 'add', 'example.test']);
  await system.mailctl(['user', 'add', 'bench@example.test'], 'bench-password\n');
  const cur = join(dataDir, 'mailbox-store', 'mailboxes', encodeURIComponent('bench@example.test'), 'cur');
  return {
    name: 'mailplatform',
    port: system.smtpPort,
    recipient: 'bench@example.test',
    pop3: { port: system.pop3Port, user: 'bench@example.test', password: 'bench-password' },
    delivered: () => (existsSync(cur) ? readdirSync(cur).length : 0),
    /** Messages into and out of nats-server so far, every client's (its /varz). */
    brokerMessages: async () => {
      const varz = await (await fetch(`http://127.0.0.1:${monitorPort}/varz`)).json();
      return { in: varz.in_msgs, out: varz.out_msgs };
    },
    /** Stops it and removes its data. */
    stop,
  };
}

