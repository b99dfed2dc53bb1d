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
import { cpuBreakdown, cpuTicks, median, processTicks, TICK_MS } from './measure.mjs';
import { startOurSystem } from './our-system.mjs';
import { ensurePostfix, startPostfix } from './postfix-instance.mjs';

const [messages = 2000, connections = 16, size = 1024, rounds = 3] = process.argv.slice(2).map(Number);

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
  const breakdown = cpuBreakdown(perProcess0, perProcess1, messages).filter(([, ms]) => ms >= 0.05);
  return { rate: messages / seconds, cpuPerMessage: cpuMs / messages, seconds, breakdown };
}

ensurePostfix();
const version = spawnSync('postconf', ['-d', 'mail_version']).stdout.toString().trim().replace('mail_version = ', '');
const postfix = await startPostfix();
const ours = await startOurSystem();
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
