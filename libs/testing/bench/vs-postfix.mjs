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
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMailSystem } from '../dist/index.js';
import { ensurePostfix, startPostfix } from './postfix-instance.mjs';

const [messages = 2000, connections = 16, size = 1024, rounds = 3] = process.argv.slice(2).map(Number);

/** Busy and total jiffies of the whole machine. */
function cpuTicks() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3] + fields[4]; // idle + iowait
  return { busy: total - idle, total };
}
/** CPU jiffies per process group now: our services by name, nats-server, everything else by command name. */
function processTicks() {
  const groups = new Map();
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
      // A kernel worker's name carries the work item it last ran, so it changes between samples: one group.
      let name = comm.startsWith('kworker/') ? 'kernel workers' : comm;
      if (comm === 'node') {
        const service = /apps\/([a-z0-9-]+)\/dist\/main\.js/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
        if (!service) continue;
        name = service[1];
      }
      groups.set(name, (groups.get(name) ?? 0) + ticks);
    } catch {
      // gone meanwhile
    }
  }
  return groups;
}

const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim() || 100);

async function startOurs() {
  const dataDir = await mkdtemp(join(tmpdir(), 'mail-bench-'));
  const system = await startMailSystem({ dataDir });
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
  const perProcess0 = processTicks();
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
  const perProcess1 = processTicks();
  const cpuMs = (cpu1.busy - cpu0.busy) * TICK_MS;
  // Where the CPU went (processes alive at both ends; short-lived ones count only machine-wide).
  const breakdown = [...perProcess1]
    .map(([name, ticks]) => [name, ((ticks - (perProcess0.get(name) ?? 0)) * TICK_MS) / messages])
    .filter(([, ms]) => ms >= 0.05)
    .sort((a, b) => b[1] - a[1]);
  return { rate: messages / seconds, cpuPerMessage: cpuMs / messages, seconds, breakdown };
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
      console.log(`    ms CPU/msg by process: ${r.breakdown.map(([name, ms]) => `${name} ${ms.toFixed(2)}`).join(', ')}`);
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
