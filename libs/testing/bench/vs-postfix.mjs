#!/usr/bin/env node
// End to end against Postfix, side by side on one machine: the same load (Postfix's smtp-source, one
// message per connection) into Postfix (Debian's package, a private instance on loopback delivering to
// a virtual maildir) and into this system (embedded store), alternating, each run until every message
// is in the mailbox. Reports messages/s from the first connection to the last delivery and CPU per
// delivered message, machine-wide from /proc/stat (all processes: the services, nats-server, Postfix's
// daemons and the load generator alike), with medians and ratios.
//
// Usage: node bench/vs-postfix.mjs [messages=2000] [connections=16] [bytes=1024] [rounds=3]
// Needs root for Postfix (installed with apt-get when missing).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startMailSystem, waitForPort } from '../dist/index.js';

const [messages = 2000, connections = 16, size = 1024, rounds = 3] = process.argv.slice(2).map(Number);

function ensurePostfix() {
  if (existsSync('/usr/sbin/postfix') && existsSync('/usr/sbin/smtp-source')) return;
  console.log('installing postfix with apt-get (the baseline and its smtp-source load generator)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('debconf-set-selections', { input: "postfix postfix/main_mailer_type select 'No configuration'\n", env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'postfix'], { stdio: 'inherit', env });
}

/** Busy and total jiffies of the whole machine. */
function cpuTicks() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3] + fields[4]; // idle + iowait
  return { busy: total - idle, total };
}
const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim() || 100);

/** A private Postfix instance: its own config, queue and maildir, listening on loopback. */
async function startPostfix() {
  const root = await mkdtemp(join(tmpdir(), 'pf-bench-'));
  const etc = join(root, 'etc');
  const port = await freePort();
  for (const dir of [etc, join(root, 'queue'), join(root, 'data'), join(root, 'mail')]) mkdirSync(dir, { recursive: true });
  execFileSync('chown', ['-R', 'postfix:postfix', join(root, 'data')]);
  const uid = Number(execFileSync('id', ['-u', 'nobody']).toString());
  const gid = Number(execFileSync('id', ['-g', 'nobody']).toString());
  execFileSync('chown', ['-R', `${uid}:${gid}`, join(root, 'mail')]);
  writeFileSync(join(etc, 'vmailbox'), 'bench@bench.test bench.test/bench/\n');
  writeFileSync(
    join(etc, 'main.cf'),
    [
      'compatibility_level = 3.6',
      `queue_directory = ${join(root, 'queue')}`,
      `data_directory = ${join(root, 'data')}`,
      'mail_owner = postfix',
      'setgid_group = postdrop',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      'myhostname = bench.local',
      'mydestination =',
      'mynetworks = 127.0.0.0/8',
      'smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination',
      'virtual_mailbox_domains = bench.test',
      `virtual_mailbox_base = ${join(root, 'mail')}`,
      `virtual_mailbox_maps = texthash:${join(etc, 'vmailbox')}`,
      `virtual_uid_maps = static:${uid}`,
      `virtual_gid_maps = static:${gid}`,
      'virtual_minimum_uid = 1',
      'smtpd_client_connection_count_limit = 0',
      'smtpd_client_connection_rate_limit = 0',
      'default_process_limit = 100',
      'biff = no',
      'maillog_file = /dev/null',
      '',
    ].join('\n'),
  );
  const service = (name, type, priv, limit, command) => `${name} ${type} ${priv} - n - ${limit} ${command}`;
  writeFileSync(
    join(etc, 'master.cf'),
    [
      service(`127.0.0.1:${port}`, 'inet', 'n', '-', 'smtpd'),
      service('cleanup', 'unix', 'n', '0', 'cleanup'),
      service('qmgr', 'unix', 'n', '1', 'qmgr'),
      service('rewrite', 'unix', '-', '-', 'trivial-rewrite'),
      service('bounce', 'unix', '-', '0', 'bounce'),
      service('defer', 'unix', '-', '0', 'bounce'),
      service('trace', 'unix', '-', '0', 'bounce'),
      service('verify', 'unix', '-', '1', 'verify'),
      service('flush', 'unix', 'n', '0', 'flush'),
      service('proxymap', 'unix', '-', '-', 'proxymap'),
      service('smtp', 'unix', '-', '-', 'smtp'),
      service('relay', 'unix', '-', '-', 'smtp'),
      service('showq', 'unix', 'n', '-', 'showq'),
      service('error', 'unix', '-', '-', 'error'),
      service('retry', 'unix', '-', '-', 'error'),
      service('discard', 'unix', '-', '-', 'discard'),
      service('local', 'unix', '-', '-', 'local'),
      service('virtual', 'unix', '-', '-', 'virtual'),
      service('anvil', 'unix', '-', '1', 'anvil'),
      service('scache', 'unix', '-', '1', 'scache'),
      service('postlog', 'unix-dgram', 'n', '1', 'postlogd'),
      service('pickup', 'unix', 'n', '1', 'pickup'),
      '',
    ].join('\n'),
  );
  execFileSync('postfix', ['-c', etc, 'check'], { stdio: 'inherit' });
  execFileSync('postfix', ['-c', etc, 'start'], { stdio: 'inherit' });
  await waitForPort(port);
  const maildir = join(root, 'mail', 'bench.test', 'bench', 'new');
  return {
    name: 'Postfix',
    port,
    recipient: 'bench@bench.test',
    delivered: () => (existsSync(maildir) ? readdirSync(maildir).length : 0),
    stop: () => {
      spawnSync('postfix', ['-c', etc, 'stop']);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

async function startOurs() {
  const dataDir = await mkdtemp(join(tmpdir(), 'mail-bench-'));
  const system = await startMailSystem({ dataDir, env: { LOG_LEVEL: 'warn' } });
  await system.mailctl(['domain', 'add', 'example.test']);
  await system.mailctl(['user', 'add', 'bench@example.test'], 'bench-password\n');
  const cur = join(dataDir, 'mailbox-store', 'mailboxes', encodeURIComponent('bench@example.test'), 'cur');
  return {
    name: 'mailplatform',
    port: system.smtpPort,
    recipient: 'bench@example.test',
    delivered: () => (existsSync(cur) ? readdirSync(cur).length : 0),
    stop: () => system.stop(),
  };
}

/** One run: smtp-source sends `messages`, then wait until all are delivered. */
async function run(target) {
  const before = target.delivered();
  const cpu0 = cpuTicks();
  const started = process.hrtime.bigint();
  const source = spawn('/usr/sbin/smtp-source', ['-c', '-l', String(size), '-m', String(messages), '-s', String(connections), '-f', 'load@remote.test', '-t', target.recipient, `127.0.0.1:${target.port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  source.stderr.on('data', (d) => (stderr += d));
  const sourceDone = new Promise((resolve) => source.on('exit', resolve));
  const deadline = Date.now() + 600_000;
  while (target.delivered() - before < messages) {
    if (Date.now() > deadline) throw new Error(`${target.name}: ${target.delivered() - before} of ${messages} delivered after 10 minutes; smtp-source: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu1 = cpuTicks();
  await sourceDone;
  const cpuMs = (cpu1.busy - cpu0.busy) * TICK_MS;
  return { rate: messages / seconds, cpuPerMessage: cpuMs / messages, seconds };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

ensurePostfix();
const version = spawnSync('postconf', ['-d', 'mail_version']).stdout.toString().trim().replace('mail_version = ', '');
const postfix = await startPostfix();
const ours = await startOurs();
const results = { Postfix: [], mailplatform: [] };
try {
  // Warm-up: JIT, gRPC channels, streams; Postfix's process pools.
  await run(ours);
  await run(postfix);
  for (let round = 1; round <= rounds; round++) {
    for (const target of round % 2 ? [postfix, ours] : [ours, postfix]) {
      const r = await run(target);
      results[target.name].push(r);
      console.log(`round ${round} ${target.name.padEnd(12)} ${r.rate.toFixed(0).padStart(5)} msg/s  ${r.cpuPerMessage.toFixed(2).padStart(6)} ms CPU/msg  (${r.seconds.toFixed(1)} s)`);
    }
  }
} finally {
  postfix.stop();
  await ours.stop();
}
const summary = (name) => ({ rate: median(results[name].map((r) => r.rate)), cpu: median(results[name].map((r) => r.cpuPerMessage)) });
const p = summary('Postfix');
const o = summary('mailplatform');
console.log(`\nend to end, ${messages} × ${size} B over ${connections} connections, one message per connection, medians of ${rounds} alternating runs`);
console.log(`(Postfix ${version}, virtual maildir; CPU machine-wide from /proc/stat, all processes incl. nats-server and smtp-source)`);
console.log('| system | msg/s | CPU ms/msg |');
console.log('|---|---:|---:|');
console.log(`| Postfix ${version} | ${p.rate.toFixed(0)} | ${p.cpu.toFixed(2)} |`);
console.log(`| mailplatform | ${o.rate.toFixed(0)} | ${o.cpu.toFixed(2)} |`);
console.log(`| ratio (ours / Postfix) | ${(o.rate / p.rate).toFixed(2)}× | ${(o.cpu / p.cpu).toFixed(2)}× |`);
