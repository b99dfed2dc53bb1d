// mailctl's help: how to reach services on moved ports (options and the variables behind them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
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
