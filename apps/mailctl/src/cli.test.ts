// mailctl's command line: how to reach services on moved ports (options and the variables behind them), and a closed pipe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const mailctl = (args: string[], env: NodeJS.ProcessEnv = {}) => promisify(execFile)(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH, ...env } });

test('--help names the options, their defaults and the variables MAILBOX_STORE_ADDRESS and QUEUE_ADMIN_ADDRESS', async () => {
  const { stdout } = await mailctl(['--help']);
  const help = stdout.replace(/\s+/g, ' ');
  assert.match(help, /--mailbox-store <host:port> mailbox-store gRPC address \(default: "127\.0\.0\.1:50051", env: MAILBOX_STORE_ADDRESS\)/);
  assert.match(help, /--queue-manager <host:port> queue-manager admin gRPC address \(default: "127\.0\.0\.1:50052", env: QUEUE_ADMIN_ADDRESS\)/);
  assert.match(help, /export MAILBOX_STORE_ADDRESS=127\.0\.0\.1:6051 QUEUE_ADMIN_ADDRESS=127\.0\.0\.1:6052/);
});

test('the variable moves the address, and an option beats the variable', async () => {
  // Port 9 (discard) on loopback refuses at once: the error names the address that was tried.
  const viaEnv = await mailctl(['--timeout', '2000', 'domain', 'list'], { MAILBOX_STORE_ADDRESS: '127.0.0.1:9' }).catch((err: { stderr: string }) => err);
  assert.match(viaEnv.stderr, /cannot reach mailbox-store at 127\.0\.0\.1:9 /);
  const viaOption = await mailctl(['--timeout', '2000', '--mailbox-store', '127.0.0.1:7', 'domain', 'list'], { MAILBOX_STORE_ADDRESS: '127.0.0.1:9' }).catch((err: { stderr: string }) => err);
  assert.match(viaOption.stderr, /cannot reach mailbox-store at 127\.0\.0\.1:7 /);
});

test('a reader that closes the pipe early ends the output quietly: exit status 0, no stack trace', async () => {
  // `mailctl logs --follow | head -1`: the reader is gone, and the next line written after it left hits EPIPE.
  const dir = mkdtempSync(join(tmpdir(), 'mailctl-epipe-'));
  const line = (msg: string) => `${JSON.stringify({ level: 30, time: Date.now(), service: 'smtp-ingress', msg })}\n`;
  writeFileSync(join(dir, 'smtp-ingress.log'), line('first'));
  const child = spawn(process.execPath, [MAIN, 'logs', '--follow', '--log-dir', dir], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const closed = new Promise((resolve) => child.on('close', resolve));
  const appender = setInterval(() => appendFileSync(join(dir, 'smtp-ingress.log'), line('later')), 200);
  const killer = setTimeout(() => child.kill(), 10_000);
  try {
    const code = await closed;
    assert.equal(stderr, '');
    assert.equal(code, 0, 'ended by the closed pipe, not by the kill after 10 s');
  } finally {
    clearInterval(appender);
    clearTimeout(killer);
    rmSync(dir, { recursive: true, force: true });
  }
});
