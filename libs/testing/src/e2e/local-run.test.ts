// The local run (scripts/local.mjs, what scripts/start-local.sh starts): NATS asks for a password, so
// another local user cannot publish mail.accepted or spool objects (issue 17), while the services work.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as natsConnect } from '@nats-io/transport-node';
import { REPO_ROOT } from '../mail-system.js';
import { freePort } from '../ports.js';

describe('the local run', () => {
  let child: ReturnType<typeof spawn>;
  let dataDir: string;
  let natsUrl: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mail-local-'));
    const ports: Record<string, string> = {};
    for (const name of ['SMTP_PORT', 'SMTP_SUBMISSION_PORT', 'SMTPS_PORT', 'POP3_PORT', 'POP3S_PORT', 'MAILBOX_GRPC_PORT', 'QUEUE_GRPC_PORT', 'NATS_PORT']) {
      ports[name] = String(await freePort());
    }
    child = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'local.mjs')], { env: { ...process.env, ...ports, DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!/Stop with Ctrl-C/.test(output)) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `the local run did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    natsUrl = /NATS\s+(nats:\/\/\S+)/.exec(output)![1]!;
  });
  after(async () => {
    if (child?.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  test('NATS refuses a client without the password, and accepts the services\' credentials', async () => {
    await assert.rejects(natsConnect({ servers: natsUrl, reconnect: false, timeout: 5000 }), /Authorization|auth/i);
    const password = (await readFile(join(dataDir, 'nats-password'), 'utf8')).trim();
    const nc = await natsConnect({ servers: natsUrl, user: 'mail', pass: password, reconnect: false, timeout: 5000 });
    await nc.close();
  });
});
