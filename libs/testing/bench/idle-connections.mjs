#!/usr/bin/env node
// Memory per idle SMTP connection, side by side: a client process opens N connections to one server,
// waits until every one has had its 220 greeting, and holds them open; the server's resident memory
// (/proc/<pid>/statm) after that, less its resident memory before the first connection, divided by N, is
// its cost per idle connection. The servers: this system's smtp-ingress (embedded store; the other
// services hold nothing per connection), Haraka (npm, one process, the bench's queue plugin) and
// nodemailer's smtp-server (npm; the library many Node SMTP servers are built on). Each server is
// started afresh for each round (a resident size does not shrink back), and the rounds alternate.
// Postfix is not in it: its smtpd is a process per connection (default_process_limit 100), another model.
//
// Usage: node bench/idle-connections.mjs [connections=10000] [rounds=2]
// The client is this file run with --hold PORT N: it prints "greeted N" once every connection is greeted
// and keeps them open until killed. Needs `ulimit -n` above N for both sides.
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '@mail/launcher';
import { ensureHaraka, HARAKA_VERSION, startHaraka } from './haraka-instance.mjs';
import { median, residentOf } from './measure.mjs';
import { installPeerOnce } from './npm-peer.mjs';
import { startOurSystem } from './our-system.mjs';

/** The client: N connections, at most 200 waiting for their greeting at a time. */
async function hold(port, count) {
  const sockets = [];
  let next = 0;
  let greeted = 0;
  await new Promise((resolve, reject) => {
    const open = () => {
      if (next >= count) return;
      next++;
      const socket = connect(port, '127.0.0.1');
      sockets.push(socket);
      socket.setEncoding('latin1');
      socket.on('error', reject);
      socket.once('data', (text) => {
        if (!text.startsWith('220')) return reject(new Error(`connection ${sockets.length}: ${text.trim()}`));
        if (++greeted === count) resolve();
        else open();
      });
    };
    for (let i = 0; i < 200; i++) open();
  });
  console.log(`greeted ${greeted}`);
  await new Promise(() => undefined); // held until killed
}

const SMTP_SERVER_VERSION = '3.21.6';
const SMTP_SERVER_CACHE = join(tmpdir(), `smtp-server-${SMTP_SERVER_VERSION}`);

function ensureSmtpServer() {
  installPeerOnce(SMTP_SERVER_CACHE, join(SMTP_SERVER_CACHE, 'node_modules', 'smtp-server'), `smtp-server@${SMTP_SERVER_VERSION}`, 'an idle-connection peer');
  // A plain server: no TLS, no AUTH, every message read and thrown away, no connection limit.
  writeFileSync(
    join(SMTP_SERVER_CACHE, 'server.cjs'),
    `const { SMTPServer } = require('smtp-server');
const server = new SMTPServer({ logger: false, disabledCommands: ['STARTTLS', 'AUTH'], maxClients: Infinity, onData(stream, _session, done) { stream.on('end', () => done()); stream.resume(); } });
server.listen(Number(process.argv[2]), '127.0.0.1');
`,
  );
}

async function startSmtpServer() {
  const port = await freePort();
  const child = spawn(process.execPath, [join(SMTP_SERVER_CACHE, 'server.cjs'), String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port);
  return {
    name: 'smtp-server',
    port,
    pid: () => child.pid,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

const smtpIngressPid = () => Number(execFileSync('pgrep', ['-f', 'apps/smtp-ingress/dist/main.js']).toString().trim().split('\n')[0]);

const SERVERS = [
  {
    name: 'mailplatform',
    start: async () => {
      const system = await startOurSystem({ SMTP_MAX_CONNECTIONS: '100000', SMTP_RESERVED_CONNECTIONS_PERCENT: '0', SMTP_MAX_CONNECTIONS_PER_ADDRESS: '100000' });
      return { ...system, pid: smtpIngressPid };
    },
  },
  {
    name: 'Haraka',
    start: async () => {
      const haraka = await startHaraka();
      return { ...haraka, pid: () => haraka.pids()[0] };
    },
  },
  { name: 'smtp-server', start: startSmtpServer },
];

async function measure(server, count) {
  const running = await server.start();
  try {
    const pid = running.pid();
    await new Promise((resolve) => setTimeout(resolve, 1000)); // settled after start
    const before = residentOf(pid);
    const started = Date.now();
    const client = spawn(process.execPath, [new URL(import.meta.url).pathname, '--hold', String(running.port), String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve, reject) => {
      client.stdout.on('data', (text) => String(text).startsWith('greeted') && resolve());
      client.once('exit', (code) => reject(new Error(`${server.name}: the client exited with ${code} before every connection was greeted`)));
    });
    const seconds = (Date.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 2000)); // what the connections cost once idle
    const after = residentOf(pid);
    client.kill('SIGKILL');
    return { perConnection: (after - before) / count, seconds };
  } finally {
    await running.stop();
  }
}

async function compare(count = 10_000, rounds = 2) {
  ensureHaraka();
  ensureSmtpServer();
  const results = new Map(SERVERS.map((s) => [s.name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const server of round % 2 ? SERVERS : [...SERVERS].reverse()) {
      const r = await measure(server, count);
      results.get(server.name).push(r);
      console.log(`round ${round} ${server.name.padEnd(12)} ${count} connections greeted in ${r.seconds.toFixed(1)} s, ${(r.perConnection / 1000).toFixed(1)} kB resident each`);
    }
  }
  console.log(`\n${count} idle SMTP connections, medians of ${rounds} alternating rounds (Haraka ${HARAKA_VERSION}, smtp-server ${SMTP_SERVER_VERSION}; resident memory from /proc/<pid>/statm)`);
  console.log('| server | resident memory per idle connection | ratio to ours |');
  console.log('|---|---:|---:|');
  const ours = median(results.get('mailplatform').map((r) => r.perConnection));
  for (const [name, runs] of results) {
    const mid = median(runs.map((r) => r.perConnection));
    console.log(`| ${name} | ${(mid / 1000).toFixed(1)} kB | ${(mid / ours).toFixed(2)}× |`);
  }
}

if (process.argv[2] === '--hold') await hold(Number(process.argv[3]), Number(process.argv[4]));
else await compare(...process.argv.slice(2).map(Number));
