// A private Haraka for the benchmarks: Haraka from npm (installed once into a cache folder), one process
// on loopback, accepting mail for one domain and queueing each message with a small plugin of ours that
// writes it to a file and fsyncs it before answering 250 — the durability our own 250 promises.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '@mail/launcher';
import { installPeerOnce } from './npm-peer.mjs';

export const HARAKA_VERSION = '3.3.4';
const CACHE = join(tmpdir(), `haraka-${HARAKA_VERSION}`);
const BIN = join(CACHE, 'node_modules', 'Haraka', 'bin', 'haraka');

export function ensureHaraka() {
  installPeerOnce(CACHE, BIN, `Haraka@${HARAKA_VERSION}`, 'the durable-queue baseline');
}

// The queue plugin: the message goes to a file, fsynced, before the 250.
const QUEUE_PLUGIN = `
const fs = require('node:fs');
const path = require('node:path');
exports.hook_queue = function (next, connection) {
  const txn = connection.transaction;
  fs.open(path.join(process.env.BENCH_QUEUE_DIR, txn.uuid + '.eml'), 'w', (err, fd) => {
    if (err) return next(DENYSOFT, err.message);
    const out = fs.createWriteStream(null, { fd, autoClose: false });
    out.on('error', (e) => fs.close(fd, () => next(DENYSOFT, e.message)));
    out.on('finish', () => fs.fsync(fd, (e) => fs.close(fd, () => (e ? next(DENYSOFT, e.message) : next(OK)))));
    txn.message_stream.pipe(out);
  });
};
`;

export async function startHaraka() {
  const root = await mkdtemp(join(tmpdir(), 'haraka-bench-'));
  const port = await freePort();
  const queueDir = join(root, 'queue');
  for (const dir of ['plugins', 'queue']) mkdirSync(join(root, dir));
  // Haraka's own defaults (connection.ini and the rest), then ours on top.
  cpSync(join(CACHE, 'node_modules', 'Haraka', 'config'), join(root, 'config'), { recursive: true });
  writeFileSync(join(root, 'plugins', 'queue_fsync.js'), QUEUE_PLUGIN);
  writeFileSync(join(root, 'config', 'plugins'), 'rcpt_to.in_host_list\nqueue_fsync\n');
  writeFileSync(join(root, 'config', 'host_list'), 'bench.test\n');
  writeFileSync(join(root, 'config', 'me'), 'haraka.bench.local\n');
  // One process (no cluster), like each of our services; logging at the level our services use.
  writeFileSync(join(root, 'config', 'smtp.ini'), `listen=127.0.0.1:${port}\nnodes=0\n`);
  writeFileSync(join(root, 'config', 'log.ini'), '[main]\nlevel=info\n');
  const child = spawn(process.execPath, [BIN, '-c', root], { env: { ...process.env, BENCH_QUEUE_DIR: queueDir }, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, 60_000);
  return {
    name: 'Haraka',
    port,
    recipient: 'bench@bench.test',
    delivered: () => readdirSync(queueDir).length,
    pids: () => [child.pid],
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await rm(root, { recursive: true, force: true });
    },
  };
}
