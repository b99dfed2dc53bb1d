#!/usr/bin/env node
// Throughput of the mail path, run side by side with a baseline in one run:
//   baseline: Postfix's smtp-sink (accepts and discards; the ceiling of client + loopback),
//   ours:     smtp-ingress answering 250 only once the message is durable in JetStream,
//   and the whole path to the mailbox (SMTP in -> queue -> delivery -> embedded store).
// Usage: node bench/mail-path.mjs [messages=400] [connections=4] [sizeBytes=4096]
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { freePort, waitForPort } from '@mail/launcher';
import { startSystemInTempDir } from './our-system.mjs';

const [messages = 400, connections = 4, size = 4096] = process.argv.slice(2).map(Number);
const body = `Subject: bench\r\n\r\n${'x'.repeat(76)}\r\n`.repeat(Math.max(1, Math.floor(size / 80)));

/** Sends `count` messages over one connection with PIPELINING-style batches; resolves with 250 count. */
function sendMany(port, count, rcpt) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let buffer = '';
    let accepted = 0;
    let sent = 0;
    let stage = 'greeting';
    const next = () => {
      if (sent === count) {
        stage = 'quit';
        return socket.end('QUIT\r\n');
      }
      sent++;
      stage = 'transaction';
      socket.write(`MAIL FROM:<bench@remote.test>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\n`);
    };
    let pendingReplies = 0;
    socket.on('data', (d) => {
      buffer += d.toString('latin1');
      let end;
      while ((end = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (line[3] === '-') continue;
        if (stage === 'greeting') {
          stage = 'ehlo';
          socket.write('EHLO bench.test\r\n');
        } else if (stage === 'ehlo') next();
        else if (stage === 'transaction') {
          pendingReplies++;
          if (line.startsWith('354')) {
            pendingReplies = 0;
            stage = 'data';
            socket.write(`${body}.\r\n`);
          } else if (pendingReplies === 3) return reject(new Error(`refused: ${line}`));
        } else if (stage === 'data') {
          if (line.startsWith('250')) accepted++;
          next();
        }
      }
    });
    socket.on('close', () => resolve(accepted));
    socket.on('error', reject);
  });
}

async function measure(port, rcpt) {
  const start = process.hrtime.bigint();
  const per = Math.ceil(messages / connections);
  const counts = await Promise.all(Array.from({ length: connections }, () => sendMany(port, per, rcpt)));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const accepted = counts.reduce((a, b) => a + b, 0);
  return { accepted, seconds, rate: accepted / seconds };
}

async function maildropCount(system) {
  return new Promise((resolve) => {
    const socket = connect(system.pop3Port, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => {
      text += d;
      if (text.split('\r\n').length === 2) socket.write('USER bench@example.test\r\nPASS bench-password\r\nSTAT\r\nQUIT\r\n');
      const stat = /\+OK (\d+) \d+\r\n/.exec(text.split('\r\n').slice(3).join('\r\n'));
      if (stat) {
        socket.destroy();
        resolve(Number(stat[1]));
      }
    });
    socket.on('error', () => resolve(-1));
  });
}

const sinkPort = await freePort();
const sink = spawn('/usr/sbin/smtp-sink', ['-u', 'root', `127.0.0.1:${sinkPort}`, '256'], { stdio: 'ignore' });
await waitForPort(sinkPort);
const { system, stop: stopSystem } = await startSystemInTempDir('mail-bench-', { env: { LOG_LEVEL: 'warn', POP3_ALLOW_PLAINTEXT_AUTH: 'true', SMTP_MAX_MESSAGES_PER_CONNECTION: '1000000' } });
await system.mailctl(['domain', 'add', 'example.test']);
await system.mailctl(['user', 'add', 'bench@example.test'], 'bench-password\n');
try {
  const warmUp = await measure(system.smtpPort, 'bench@example.test'); // JIT, channels, streams
  const baseline = await measure(sinkPort, 'bench@example.test');
  const start = process.hrtime.bigint();
  const ours = await measure(system.smtpPort, 'bench@example.test');
  let delivered = 0;
  const expected = ours.accepted + warmUp.accepted;
  while ((delivered = await maildropCount(system)) < expected) await new Promise((r) => setTimeout(r, 100));
  const endToEnd = Number(process.hrtime.bigint() - start) / 1e9;
  const mb = (n) => ((n * body.length) / 1e6).toFixed(1);
  console.log(`mail path benchmark: ${messages} messages of ${body.length} bytes over ${connections} connections`);
  console.log(`  smtp-sink (baseline, discards)   ${baseline.rate.toFixed(0).padStart(6)} msg/s  ${mb(baseline.rate)} MB/s`);
  console.log(`  smtp-ingress (250 = durable)     ${ours.rate.toFixed(0).padStart(6)} msg/s  ${mb(ours.rate)} MB/s  ratio ${(ours.rate / baseline.rate).toFixed(2)}`);
  console.log(`  SMTP in -> mailbox (end to end)  ${(ours.accepted / endToEnd).toFixed(0).padStart(6)} msg/s  (${delivered} in the maildrop after ${endToEnd.toFixed(1)} s)`);
} finally {
  sink.kill();
  await stopSystem();
}
