#!/usr/bin/env node
// Head-of-line blocking, measured: `waiting` messages are queued for slow.test, whose server answers
// every command after 3 s and is limited to one connection (DELIVERY_DOMAIN_LIMITS=slow.test=1/0);
// then local mail is sent at a steady pace, one message per connection, and the time from the start of
// its SMTP transaction to its file in the maildrop is measured (the maildrop directory polled every
// 5 ms); then a burst of mail for a healthy remote domain, timed until its server has it all.
//
// Usage: node bench/head-of-line.mjs [waiting=2000] [local=100] [localPerSecond=10] [healthy=200]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ScriptedSmtpServer } from '../dist/index.js';
import { startSystemInTempDir } from './our-system.mjs';

const [waiting = 2000, local = 100, localPerSecond = 10, healthy = 200] = process.argv.slice(2).map(Number);

/** smtp-source: `count` messages of 1 KB to `to`, `sessions` at once, one message per connection. */
function smtpSource(port, to, count, sessions) {
  const result = spawnSync('/usr/sbin/smtp-source', ['-c', '-l', '1024', '-m', String(count), '-s', String(sessions), '-f', 'load@local.test', '-t', to, `127.0.0.1:${port}`], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`smtp-source failed: ${result.stderr}`);
}

const slow = new ScriptedSmtpServer({ replyDelayMs: 3000 });
const fast = new ScriptedSmtpServer();
const slowPort = await slow.start();
const fastPort = await fast.start();
const { system, dataDir, stop: stopSystem } = await startSystemInTempDir('hol-bench-', {
  env: {
    SMTP_RELAY_NETWORKS: '127.0.0.1/32',
    DELIVERY_TRANSPORT_MAP: `slow.test=127.0.0.1:${slowPort},healthy.test=127.0.0.1:${fastPort}`,
    DELIVERY_DOMAIN_LIMITS: 'slow.test=1/0',
    DELIVERY_DESTINATION_BACKOFF_MS: '0',
  },
});
try {
  await system.mailctl(['domain', 'add', 'local.test']);
  await system.mailctl(['user', 'add', 'alice@local.test'], 'bench-password\n');
  const cur = join(dataDir, 'mailbox-store', 'mailboxes', encodeURIComponent('alice@local.test'), 'cur');
  const delivered = () => (existsSync(cur) ? readdirSync(cur).length : 0);

  let started = Date.now();
  smtpSource(system.smtpPort, 'someone@slow.test', waiting, 16);
  console.log(`${waiting} messages for slow.test accepted in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const latencies = [];
  for (let i = 0; i < local; i++) {
    const sentAt = Date.now();
    const before = delivered();
    smtpSource(system.smtpPort, 'alice@local.test', 1, 1);
    while (delivered() <= before) {
      if (Date.now() - sentAt > 60_000) throw new Error(`local message ${i} not delivered after 60 s`);
      await new Promise((r) => setTimeout(r, 5));
    }
    latencies.push(Date.now() - sentAt);
    const next = sentAt + 1000 / localPerSecond;
    if (next > Date.now()) await new Promise((r) => setTimeout(r, next - Date.now()));
  }
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)];

  started = Date.now();
  smtpSource(system.smtpPort, 'someone@healthy.test', healthy, 16);
  while (fast.transactions.length < healthy) {
    if (Date.now() - started > 120_000) throw new Error(`${fast.transactions.length} of ${healthy} healthy messages after 120 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const healthySeconds = (Date.now() - started) / 1000;

  console.log(`\nhead of line: ${waiting} messages waiting on slow.test (one connection, 3 s per reply)`);
  console.log('| measure | value |');
  console.log('|---|---:|');
  console.log(`| local mail, SMTP start → in maildrop, ${local} messages at ${localPerSecond}/s: p50 | ${pct(50)} ms |`);
  console.log(`| … p99 | ${pct(99)} ms |`);
  console.log(`| … max | ${latencies.at(-1)} ms |`);
  console.log(`| ${healthy} messages to healthy.test, accepted and delivered | ${(healthy / healthySeconds).toFixed(0)} msg/s |`);
  console.log(`| slow.test: connections at once (limit 1) | ${slow.maxConcurrent} |`);
} finally {
  await slow.stop();
  await fast.stop();
  await stopSystem();
}
