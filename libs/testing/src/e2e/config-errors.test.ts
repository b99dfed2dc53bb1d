// Configuration errors as an operator meets them: a service started with bad values prints one plain line
// per bad variable (the variable, the value, the accepted form), starts nothing, and exits with 78; values
// with units (25MB, 5m) are accepted.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../mail-system.js';
import { freePort, waitForPort } from '@mail/launcher';
import { startProcess } from '@mail/launcher';

function run(service: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'apps', service, 'dist', 'main.js')], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('smtp-ingress with three bad values: one line each, nothing started, exit status 78', async () => {
  const port = await freePort();
  const result = await run('smtp-ingress', {
    SMTP_PORT: String(port),
    SMTP_SUBMISSION_PORT: 'abc',
    MAX_MESSAGE_BYTES: '25XB',
    LOG_LEVEL: 'loud',
    NATS_URL: 'nats://127.0.0.1:9',
  });
  assert.equal(result.code, 78);
  assert.equal(result.stdout, '', 'no log line: nothing started');
  assert.deepEqual(result.stderr.trimEnd().split('\n'), [
    'smtp-ingress: SMTP_SUBMISSION_PORT="abc": expected a port number (0-65535) or "off"',
    'smtp-ingress: MAX_MESSAGE_BYTES="25XB": expected a size: bytes, or a number with KB, MB or GB (1024-based, e.g. 512KB, 25MB) of at least 1024 bytes',
    'smtp-ingress: LOG_LEVEL="loud": expected one of: fatal, error, warn, info, debug, trace, silent',
    'smtp-ingress: not started: 3 invalid settings',
  ]);
});

test('a bad value of a shared setting (gRPC TLS, failed-login throttle) is reported with the service\'s own', async () => {
  const result = await run('mailbox-store', { MAILBOX_GRPC_PORT: '-1', GRPC_TLS: 'maybe', AUTH_LOCK_MS: 'forever' });
  assert.equal(result.code, 78);
  assert.deepEqual(result.stderr.trimEnd().split('\n'), [
    'mailbox-store: MAILBOX_GRPC_PORT="-1": expected a port number (0-65535)',
    'mailbox-store: AUTH_LOCK_MS="forever": expected a duration: milliseconds, or a number with ms, s, m, h or d (e.g. 500ms, 30s, 5m, 1h)',
    'mailbox-store: GRPC_TLS="maybe": expected true or false (also yes/no, on/off, 1/0)',
    'mailbox-store: not started: 3 invalid settings',
  ]);
});

test('sizes and durations with units start the service', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'config-units-'));
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const env = { PATH: process.env.PATH, MAILBOX_DATA_DIR: dataDir, MAILBOX_GRPC_PORT: String(grpcPort), MAILBOX_HTTP_PORT: String(httpPort), MAX_MESSAGE_BYTES: '25MB', AUTH_LOCK_MS: '5m', AUTH_FAILURE_WINDOW_MS: '1h' };
  const store = startProcess('mailbox-store', process.execPath, [join(REPO_ROOT, 'apps', 'mailbox-store', 'dist', 'main.js')], env);
  try {
    await waitForPort(grpcPort);
  } finally {
    await store.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
