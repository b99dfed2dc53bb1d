#!/usr/bin/env node
// POP3 against Dovecot, side by side on one machine: the same maildrops (20 KB messages for RETR, a
// 10,000-message maildrop for UIDL/LIST) in Dovecot (Debian's dovecot-pop3d, a private instance on
// loopback) and in this system (embedded store, filled over SMTP), the same client (Python's poplib,
// one process per session), alternating, medians of the rounds and ratios.
//
// Usage: node bench/vs-dovecot.mjs [retrPerRun=2000] [rounds=3] [bigMaildrop=10000] [messageBytes=20480]
// Needs root for Dovecot (installed with apt-get when missing).
import { spawn } from 'node:child_process';
import { smtplibSend } from '../dist/index.js';
import { startSystemInTempDir } from './our-system.mjs';
import { dovecotVersion, ensureDovecot, startDovecot } from './dovecot-instance.mjs';
import { cpuBreakdown, cpuTicks, median, processTicks, quantile, TICK_MS } from './measure.mjs';

const [retrPerRun = 2000, rounds = 3, bigMaildrop = 10_000, messageBytes = 20_480] = process.argv.slice(2).map(Number);
const SESSIONS = [1, 4, 16];
const PASSWORD = 'bench-password';
const LOAD = new URL('./pop3-load.py', import.meta.url).pathname;

/** Users `u0..u15` hold what the largest share of a run needs (u0 reads retrPerRun alone at 1 session). */
const users = Array.from({ length: Math.max(...SESSIONS) }, (_, i) => `u${i}@bench.test`);
const retrShare = (sessions) => Math.floor(retrPerRun / sessions);
const messagesOf = (index) => retrShare(SESSIONS.find((s) => index < s));

function message(user, n, bytes) {
  const head = `From: load@remote.test\r\nTo: ${user}\r\nSubject: bench ${n}\r\nMessage-ID: <${n}.${user}>\r\n\r\n`;
  const line = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-.abcdefghij\r\n';
  const lines = Math.max(1, Math.round((bytes - head.length) / line.length));
  // Every 40th line starts with a dot, so both servers do byte-stuffing.
  return Buffer.from(head + Array.from({ length: lines }, (_, i) => (i % 40 === 39 ? `.${line.slice(1)}` : line)).join(''));
}
const contents = (user) => {
  if (user === 'big@bench.test') return Array.from({ length: bigMaildrop }, (_, n) => message(user, n, 1024));
  return Array.from({ length: messagesOf(users.indexOf(user)) }, (_, n) => message(user, n, messageBytes));
};

async function startOurs() {
  const { system, stop } = await startSystemInTempDir('pop3-bench-');
  await system.mailctl(['domain', 'add', 'bench.test']);
  for (const user of [...users, 'big@bench.test']) await system.mailctl(['user', 'add', user], `${PASSWORD}\n`);
  // Filled over SMTP (100 messages a session, the default limit), eight sessions at a time, then waited for until every message is in its maildrop.
  const batches = [];
  for (const user of [...users, 'big@bench.test']) {
    const all = contents(user);
    for (let i = 0; i < all.length; i += 100) batches.push(all.slice(i, i + 100).map((data) => ({ from: 'load@remote.test', to: [user], data })));
  }
  for (let i = 0; i < batches.length; i += 8) {
    const replies = (await Promise.all(batches.slice(i, i + 8).map((b) => smtplibSend(system.smtpPort, b)))).flat();
    const failed = replies.find((r) => !r.ok);
    if (failed) throw new Error(`filling the maildrops: ${failed.code} ${failed.text}`);
  }
  for (const user of [...users, 'big@bench.test']) {
    const want = contents(user).length;
    for (let tries = 0; ; tries++) {
      const got = await session(system.pop3Port, user, 'list');
      if (got.octets / 2 >= want) break;
      if (tries > 600) throw new Error(`${user}: ${got.octets / 2} of ${want} messages delivered`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return {
    name: 'mailplatform',
    port: system.pop3Port,
    stop,
  };
}

async function startPeer() {
  const dovecot = await startDovecot(
    [...users, 'big@bench.test'].map((name) => ({ name, password: PASSWORD })),
    contents,
  );
  return { name: 'Dovecot', port: dovecot.port, stop: dovecot.stop };
}

function session(port, user, mode, count) {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [LOAD, String(port), user, PASSWORD, mode, ...(count ? [String(count)] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`pop3-load ${mode} ${user} exited ${code}: ${err}`))));
  });
}

/** `sessions` sessions at once, each RETRing its share in order; RETRs/s over the span of all of them. */
async function retrRun(target, sessions) {
  const share = retrShare(sessions);
  const cpu0 = cpuTicks();
  const perProcess0 = processTicks();
  const results = await Promise.all(users.slice(0, sessions).map((user) => session(target.port, user, 'retr', share)));
  const cpu1 = cpuTicks();
  const perProcess1 = processTicks();
  const retrs = share * sessions;
  const seconds = Math.max(...results.map((r) => r.to)) - Math.min(...results.map((r) => r.from));
  const latencies = results.flatMap((r) => r.latencies);
  return {
    rate: retrs / seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpu: ((cpu1.busy - cpu0.busy) * TICK_MS) / retrs,
    breakdown: cpuBreakdown(perProcess0, perProcess1, retrs).filter(([, ms]) => ms >= 0.02),
  };
}

/** Log in to the 10,000-message maildrop, UIDL and LIST, QUIT: the whole session and the two commands. */
async function listRun(target) {
  const r = await session(target.port, 'big@bench.test', 'list');
  return { session: (r.session_to - r.session_from) * 1000, commands: r.latencies[0] + r.latencies[1] };
}

ensureDovecot();
const version = dovecotVersion();
console.log('filling the maildrops (Dovecot: files written; ours: over SMTP)…');
const peer = await startPeer();
const ours = await startOurs();
const results = new Map();
const record = (key, name, value) => {
  if (!results.has(key)) results.set(key, { Dovecot: [], mailplatform: [] });
  results.get(key)[name].push(value);
};
try {
  for (const target of [ours, peer]) await retrRun(target, 4); // warm-up: JIT, channels, page cache, indexes
  for (let round = 1; round <= rounds; round++) {
    for (const target of round % 2 ? [peer, ours] : [ours, peer]) {
      for (const sessions of SESSIONS) {
        const r = await retrRun(target, sessions);
        record(`retr-${sessions}`, target.name, r);
        console.log(
          `round ${round} ${target.name.padEnd(12)} RETR ×${String(sessions).padEnd(2)} ${r.rate.toFixed(0).padStart(6)}/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  ${r.cpu.toFixed(3)} ms CPU/RETR`,
        );
        console.log(`    ms CPU/RETR by process: ${r.breakdown.map(([name, ms]) => `${name} ${ms.toFixed(3)}`).join(', ')}`);
      }
      const l = await listRun(target);
      record('list', target.name, l);
      console.log(`round ${round} ${target.name.padEnd(12)} ${bigMaildrop} messages: login+UIDL+LIST+QUIT ${l.session.toFixed(1)} ms, UIDL+LIST ${l.commands.toFixed(1)} ms`);
    }
  }
} finally {
  await peer.stop();
  await ours.stop();
}

const mid = (key, name, field) => median(results.get(key)[name].map((r) => r[field]));
console.log(`\nPOP3, ${messageBytes} B messages, ${retrPerRun} RETRs per run, medians of ${rounds} alternating rounds`);
console.log(`(Dovecot ${version}, maildir; client: Python poplib, one process per session; CPU machine-wide from /proc/stat)`);
console.log('| load | Dovecot | mailplatform | ratio (ours / Dovecot) |');
console.log('|---|---:|---:|---:|');
for (const sessions of SESSIONS) {
  const key = `retr-${sessions}`;
  const [d, o] = [mid(key, 'Dovecot', 'rate'), mid(key, 'mailplatform', 'rate')];
  console.log(`| RETR/s, ${sessions} session${sessions > 1 ? 's' : ''} | ${d.toFixed(0)} | ${o.toFixed(0)} | ${(o / d).toFixed(2)}× |`);
  const [dp, op] = [mid(key, 'Dovecot', 'p50'), mid(key, 'mailplatform', 'p50')];
  console.log(`| RETR p50 ms, ${sessions} session${sessions > 1 ? 's' : ''} | ${dp.toFixed(2)} | ${op.toFixed(2)} | ${(op / dp).toFixed(2)}× |`);
  const [dc, oc] = [mid(key, 'Dovecot', 'cpu'), mid(key, 'mailplatform', 'cpu')];
  console.log(`| CPU ms per RETR, ${sessions} session${sessions > 1 ? 's' : ''} | ${dc.toFixed(3)} | ${oc.toFixed(3)} | ${(oc / dc).toFixed(2)}× |`);
}
const [ds, os] = [mid('list', 'Dovecot', 'session'), mid('list', 'mailplatform', 'session')];
const [dl, ol] = [mid('list', 'Dovecot', 'commands'), mid('list', 'mailplatform', 'commands')];
console.log(`| ${bigMaildrop} messages: login, UIDL, LIST, QUIT (ms) | ${ds.toFixed(1)} | ${os.toFixed(1)} | ${(os / ds).toFixed(2)}× |`);
console.log(`| ${bigMaildrop} messages: UIDL + LIST only (ms) | ${dl.toFixed(1)} | ${ol.toFixed(1)} | ${(ol / dl).toFixed(2)}× |`);
