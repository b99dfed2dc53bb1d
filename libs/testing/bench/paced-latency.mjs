#!/usr/bin/env node
// SMTP in to visible over POP3, paced: messages sent at a steady rate (one per connection), each timed from
// its connection until a POP3 session first sees it, on this system and on Postfix + Dovecot (Postfix's
// virtual delivery into maildirs that a private Dovecot serves), alternating. A watcher opens POP3 sessions
// back to back (each a fresh login, as a new session is what sees new mail) and notes when the maildrop's
// count first reaches k (the moment its STAT was sent); message k's latency is that moment minus its
// send's start (messages are delivered nearly in order at this rate, and a poll's own time counts
// against both systems alike: Dovecot's passwords are hashed at about the cost of ours). Prints p50, p99 and max per system, and the ratios.
//
// Usage: node bench/paced-latency.mjs [messages=300] [perSecond=20] [rounds=2]   (as root: Postfix, Dovecot)
import { connect } from 'node:net';
import { median, quantile } from './measure.mjs';
import { startOurSystem } from './our-system.mjs';
import { ensurePostfix, startPostfix } from './postfix-instance.mjs';
import { dovecotVersion, ensureDovecot, hashedPassword, startDovecot } from './dovecot-instance.mjs';

const [messages = 300, perSecond = 20, rounds = 2] = process.argv.slice(2).map(Number);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A line-protocol conversation: send a line, read until a complete reply (`multi`: until a line that is "."). */
async function conversation(port, steps) {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  let buffered = '';
  const waiters = [];
  socket.on('data', (d) => {
    buffered += d.toString('latin1');
    while (waiters.length && waiters[0].done(buffered)) {
      const w = waiters.shift();
      const text = buffered.slice(0, w.length(buffered));
      buffered = buffered.slice(text.length);
      w.resolve(text);
    }
  });
  const failed = new Promise((_, reject) => socket.on('error', reject));
  failed.catch(() => undefined);
  const smtpReply = (t) => /(^|\n)\d{3} [^\n]*\n/.exec(t);
  const read = (kind) =>
    Promise.race([
      failed,
      new Promise((resolve) => {
        const done = kind === 'smtp' ? (t) => !!smtpReply(t) : (t) => t.includes('\r\n');
        const length = kind === 'smtp' ? (t) => { const m = smtpReply(t); return m.index + m[0].length; } : (t) => t.indexOf('\r\n') + 2;
        waiters.push({ done, length, resolve });
        socket.emit('data', Buffer.alloc(0));
      }),
    ]);
  try {
    return await steps({ send: (line) => socket.write(line), read });
  } finally {
    socket.destroy();
  }
}

async function sendOne(port, to, n) {
  await conversation(port, async ({ send, read }) => {
    await read('smtp');
    for (const line of ['EHLO paced.test', 'MAIL FROM:<paced@remote.test>', `RCPT TO:<${to}>`, 'DATA']) {
      send(`${line}\r\n`);
      const reply = await read('smtp');
      if (!/^[23]/.test(reply)) throw new Error(`${line}: ${reply.trim()}`);
    }
    send(`Subject: paced ${n}\r\nMessage-ID: <paced-${n}-${Date.now()}@remote.test>\r\n\r\n${'x'.repeat(70)}\r\n`.repeat(1) + '.\r\n');
    if (!(await read('smtp')).startsWith('250')) throw new Error('not queued');
    send('QUIT\r\n');
  });
}

/** The maildrop's message count from a fresh POP3 session, and when STAT was asked (what it counts was visible then). */
async function pop3Count(pop3) {
  return conversation(pop3.port, async ({ send, read }) => {
    await read('line');
    send(`USER ${pop3.user}\r\n`);
    await read('line');
    send(`PASS ${pop3.password}\r\n`);
    if (!(await read('line')).startsWith('+OK')) throw new Error('POP3 login refused');
    const statAt = performance.now();
    send('STAT\r\n');
    const count = Number(/^\+OK (\d+)/.exec(await read('line'))?.[1]);
    send('QUIT\r\n');
    return { count, statAt };
  });
}

async function run(target) {
  const { count: base } = await pop3Count(target.pop3);
  const sentAt = [];
  const seenAt = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const { count, statAt } = await pop3Count(target.pop3);
      for (let k = seenAt.length; k < count - base; k++) seenAt.push(statAt);
    }
  })();
  const sends = [];
  const t0 = performance.now();
  for (let n = 0; n < messages; n++) {
    const due = t0 + (n * 1000) / perSecond;
    await sleep(Math.max(0, due - performance.now()));
    sentAt.push(performance.now());
    sends.push(sendOne(target.port, target.recipient, n));
  }
  await Promise.all(sends);
  const until = performance.now() + 60_000;
  while (seenAt.length < messages && performance.now() < until) await sleep(20);
  watching = false;
  await watcher;
  if (seenAt.length < messages) throw new Error(`${target.name}: ${seenAt.length} of ${messages} visible after a minute`);
  const latencies = sentAt.map((t, k) => Math.max(0, seenAt[k] - t));
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: Math.max(...latencies) };
}

ensurePostfix();
ensureDovecot();
const postfix = await startPostfix();
// Each poll is a login: Dovecot checks a password hash of about the cost of ours (plain text would
// make its polls, and so its detection, cheaper than ours for a reason that has nothing to do with mail).
const dovecot = await startDovecot([{ name: 'bench', password: 'bench-password', hash: hashedPassword('bench-password') }], () => [], { maildirBase: postfix.maildirBase });
const peers = { name: 'Postfix + Dovecot', port: postfix.port, recipient: postfix.recipient, pop3: { port: dovecot.port, user: 'bench', password: 'bench-password' } };
const ours = await startOurSystem();
const results = { [peers.name]: [], mailplatform: [] };
try {
  await run({ ...ours, name: 'mailplatform' }); // warm-up
  await run(peers);
  for (let round = 1; round <= rounds; round++) {
    for (const target of round % 2 ? [peers, { ...ours, name: 'mailplatform' }] : [{ ...ours, name: 'mailplatform' }, peers]) {
      const r = await run(target);
      results[target.name].push(r);
      console.log(`round ${round} ${target.name.padEnd(18)} p50 ${r.p50.toFixed(1).padStart(6)} ms  p99 ${r.p99.toFixed(1).padStart(6)} ms  max ${r.max.toFixed(1).padStart(6)} ms`);
    }
  }
} finally {
  await ours.stop();
  await dovecot.stop();
  postfix.stop();
}
const summary = (name) => ({ p50: median(results[name].map((r) => r.p50)), p99: median(results[name].map((r) => r.p99)) });
const a = summary('mailplatform');
const b = summary(peers.name);
console.log(`\nSMTP in → visible over POP3, ${messages} messages at ${perSecond}/s, one per connection; medians of ${rounds} alternating runs (${dovecotVersion()})`);
console.log('| system | p50 ms | p99 ms |\n|---|---:|---:|');
console.log(`| Postfix + Dovecot | ${b.p50.toFixed(1)} | ${b.p99.toFixed(1)} |`);
console.log(`| mailplatform | ${a.p50.toFixed(1)} | ${a.p99.toFixed(1)} |`);
console.log(`| ratio (ours / peers) | ${(a.p50 / b.p50).toFixed(2)}× | ${(a.p99 / b.p99).toFixed(2)}× |`);
