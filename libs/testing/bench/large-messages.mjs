#!/usr/bin/env node
// Memory taken by large messages on their way in, against Postfix, side by side on one machine: Postfix's
// smtp-source sends N messages of S bytes over N connections at once to Postfix (a private instance
// delivering to a virtual maildir) and to this system (embedded store), alternating, each started afresh
// for each run (a process's resident size does not shrink back, so a second run would start high). While
// a run lasts, the resident memory of the receiving processes is read every 20 ms from /proc/<pid>/statm:
// ours, smtp-ingress (and, apart, nats-server, which keeps the spool); Postfix's, every smtpd and cleanup
// process together (it starts one smtpd per connection: that is its cost). Reports each side's peak
// growth over its idle size, medians, the ratio.
//
// Usage: node bench/large-messages.mjs [messages=8] [bytes=20000000] [rounds=3]
// Needs root for Postfix (installed with apt-get when missing).
import { spawn } from 'node:child_process';
import { median, processResident } from './measure.mjs';
import { startOurSystem } from './our-system.mjs';
import { ensurePostfix, startPostfix } from './postfix-instance.mjs';

const [messages = 8, size = 20_000_000, rounds = 3] = process.argv.slice(2).map(Number);
const MB = 1024 * 1024;

/** The resident bytes of the named process groups together. */
const residentOf = (groups) => {
  const now = processResident();
  return groups.reduce((sum, name) => sum + (now.get(name) ?? 0), 0);
};

/** One run: all messages at once, until each is delivered; the peak growth of each watched group set. */
async function run(target) {
  const before = target.delivered();
  const idle = Object.fromEntries(Object.entries(target.watch).map(([label, groups]) => [label, residentOf(groups)]));
  const peak = { ...idle };
  const sampler = setInterval(() => {
    for (const [label, groups] of Object.entries(target.watch)) peak[label] = Math.max(peak[label], residentOf(groups));
  }, 20);
  const source = spawn('/usr/sbin/smtp-source', ['-c', '-l', String(size), '-m', String(messages), '-s', String(messages), '-f', 'load@remote.test', '-t', target.recipient, `127.0.0.1:${target.port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  source.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((resolve) => source.on('exit', resolve));
  const deadline = Date.now() + 600_000;
  while (target.delivered() - before < messages) {
    if (Date.now() > deadline) throw new Error(`${target.name}: ${target.delivered() - before} of ${messages} delivered (smtp-source exit ${code}: ${stderr})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  clearInterval(sampler);
  return Object.fromEntries(Object.entries(peak).map(([label, bytes]) => [label, (bytes - idle[label]) / MB]));
}

ensurePostfix();
const targets = [
  { name: 'Postfix', start: () => startPostfix([`message_size_limit = ${size * 2}`]), watch: { receiver: ['smtpd', 'cleanup'] } },
  {
    name: 'mailplatform',
    start: () => startOurSystem({ MAX_MESSAGE_BYTES: String(size * 2), NATS_SPOOL_MAX_BYTES: String(size * messages * 4) }),
    watch: { receiver: ['smtp-ingress'], 'nats-server': ['nats-server'] },
  },
];
const results = new Map(targets.map((t) => [t.name, []]));
for (let round = 1; round <= rounds; round++) {
  for (const target of targets) {
    const running = await target.start();
    try {
      const peak = await run({ ...running, name: target.name, watch: target.watch });
      results.get(target.name).push(peak);
      console.log(`round ${round} ${target.name}: ${Object.entries(peak).map(([label, mb]) => `${label} +${mb.toFixed(1)} MB`).join(', ')}`);
    } finally {
      await running.stop();
    }
  }
}
const medianOf = (name, label) => median(results.get(name).map((peak) => peak[label]));
const oursReceiver = medianOf('mailplatform', 'receiver');
const postfixReceiver = medianOf('Postfix', 'receiver');
console.log(`\n${messages} messages of ${(size / MB).toFixed(1)} MB at once, peak resident growth, median of ${rounds}:`);
console.log(`  Postfix smtpd + cleanup: ${postfixReceiver.toFixed(1)} MB`);
console.log(`  smtp-ingress:            ${oursReceiver.toFixed(1)} MB (ratio ${(oursReceiver / Math.max(postfixReceiver, 0.1)).toFixed(2)}×)`);
console.log(`  nats-server (the spool): ${medianOf('mailplatform', 'nats-server').toFixed(1)} MB`);
