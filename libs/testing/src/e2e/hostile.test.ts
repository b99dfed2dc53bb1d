// Hostile clients over real TCP against the running services (issue 5, "Limits and hostile input"):
// garbage, NUL bytes, invalid UTF-8, a 100 MB line, half-closed sockets, clients that never read,
// floods of pipelined commands, DATA that never ends or is cut, too many connections from one address,
// thousands of connect-and-close cycles to the implicit-TLS ports, slowloris clients trickling a byte at
// a time, and the same for POP3. Each test is one attack, its exact outcome, and a normal client served after it;
// the last test checks that every message accepted with 250 during the suite arrived.
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { drained } from '@mail/wire';
import { poplibFetch, RawClient, smtplibSend } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { PASSWORD, startSystemWithUsers, waitForMessageCount } from './helpers.js';

const MB = 1024 * 1024;
const MAX_ERRORS = 10;
const MAX_PER_ADDRESS = 8;
/** How much a service may grow while it is attacked: generous, but far below the attack's size. */
const RSS_BOUND = 64 * MB;
const HANDSHAKE_TIMEOUT_MS = 60_000;
/** A command line must be whole this long after its first byte; slowloris clients send a byte every TRICKLE_MS. */
const COMMAND_DEADLINE_MS = 3000;
const TRICKLE_MS = 500;
/** File descriptors a service may gain during a connect-and-close flood: a few per client in flight, never one per cycle. */
const FD_BOUND = 200;

const USERS = {
  ledger: 'ledger@example.test',
  never: 'never@example.test',
  dropped: 'dropped@example.test',
  half: 'half@example.test',
  retr: 'retr@example.test',
  race: 'race@example.test',
  flood: 'flood@example.test',
};

async function greeted(port: number): Promise<RawClient> {
  const client = await RawClient.connect(port);
  await client.reply();
  return client;
}

/** Resident memory of a process, from /proc/<pid>/status. */
function rss(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) * 1024;
}

/** Runs `attack` while sampling the process's RSS; returns the growth at its peak. */
async function rssGrowthDuring(pid: number, attack: () => Promise<void>): Promise<{ before: number; peak: number; growth: number }> {
  const before = rss(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rss(pid))), 25);
  try {
    await attack();
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, rss(pid));
  return { before, peak, growth: peak - before };
}

/**
 * Slowloris: each client sends the next byte of `text` every TRICKLE_MS (never idle for the read timeout,
 * never a whole line) until the server closes it. Resolves with what each was told last.
 */
async function trickle(clients: RawClient[], text: string, timeoutMs = 60_000): Promise<string[]> {
  let sent = 0;
  const timer = setInterval(() => {
    for (const client of clients) if (!client.closed) client.send(text[sent % text.length]!);
    sent++;
  }, TRICKLE_MS);
  try {
    return await Promise.all(clients.map((client) => client.reply(timeoutMs)));
  } finally {
    clearInterval(timer);
  }
}

/** Open file descriptors of a process. */
const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/**
 * Silent TLS clients (issue 17): `cycles` connections to an implicit-TLS port, `parallel` at a time, each
 * closed by the client before any handshake. Returns the process's file descriptors before and at the peak.
 */
async function connectAndCloseLoop(pid: number, port: number, cycles: number, parallel = 20): Promise<{ before: number; peak: number }> {
  const before = fdCount(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, fdCount(pid))), 10);
  let started = 0;
  try {
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (started < cycles) {
          started++;
          (await rawSocket(port)).destroy();
        }
      }),
    );
  } finally {
    clearInterval(sampler);
  }
  return { before, peak: Math.max(peak, fdCount(pid)) };
}

/** A TLS client on an implicit-TLS port that reads the greeting, then leaves. */
async function tlsGreeting(port: number): Promise<string> {
  const secure = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  secure.on('error', () => undefined);
  const [first] = (await once(secure, 'data')) as [Buffer];
  secure.destroy();
  return first.toString('latin1');
}

/**
 * MAX_PER_ADDRESS connections to `port` that say nothing and all hold a slot: while a connection of an
 * earlier test is still closing, one of them may be refused (closed by the server); then try again.
 */
async function holdEverySlot(port: number): Promise<Socket[]> {
  for (let attempt = 0; ; attempt++) {
    const sockets = await Promise.all(Array.from({ length: MAX_PER_ADDRESS }, () => rawSocket(port)));
    await new Promise((r) => setTimeout(r, 300));
    if (sockets.every((s) => !s.destroyed) || attempt >= 20) return sockets;
    for (const socket of sockets) socket.destroy();
  }
}

/**
 * The first line a new connection to `port` gets once it is `wanted` (retrying while it is another):
 * the server accepts concurrently, so a slot taken or freed by another connection shows after a moment.
 */
async function firstLineOnceIt(port: number, wanted: RegExp, attempts = 50): Promise<string> {
  for (let i = 0; ; i++) {
    const client = await RawClient.connect(port);
    const line = await client.reply().catch((err: Error) => err.message);
    client.close();
    if (wanted.test(line) || i >= attempts) return line;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const mbText = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;

/** A plain socket to 127.0.0.1 that has connected. */
async function rawSocket(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

/** Writes `total` bytes of `chunk` with backpressure; stops early (false) if the peer closes. */
async function stream(socket: Socket, chunk: Buffer, total: number): Promise<boolean> {
  let closed = socket.destroyed;
  const onClose = () => (closed = true);
  socket.once('close', onClose);
  for (let sent = 0; sent < total && !closed; sent += chunk.length) {
    if (socket.write(chunk)) continue;
    await drained(socket);
  }
  socket.off('close', onClose);
  return !closed;
}

/**
 * Counts the reply lines of a flood as they arrive, in order: line n must match `cycle[n % cycle.length]`.
 * Lines that do not are kept (the first few) as unexpected.
 */
function countLines(socket: Socket, cycle: RegExp[]) {
  const state = { count: 0, unexpected: [] as string[], closed: false };
  let rest = '';
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => {
    const lines = (rest + text).split('\r\n');
    rest = lines.pop()!;
    for (const line of lines) {
      if (cycle[state.count % cycle.length]!.test(line)) state.count++;
      else if (state.unexpected.length < 5) state.unexpected.push(line);
    }
  });
  socket.on('close', () => (state.closed = true));
  return state;
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return condition();
}

/** Deterministic bytes (xorshift), so that a failure can be replayed. */
function pseudoRandomBytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe('hostile clients', () => {
  let system: MailSystem;
  /** Messages answered 250 during the suite, per recipient: all of them must arrive. */
  const accepted = new Map<string, string[]>();
  let ledgerSends = 0;

  const smtpPid = () => system.services['smtp-ingress'].child.pid!;
  const pop3Pid = () => system.services['pop3-access'].child.pid!;

  /** A normal client is served: a full smtplib session whose message is accepted (and counted). */
  async function normalSmtpClientServed(): Promise<void> {
    const subject = `ledger ${++ledgerSends}`;
    const [result] = await smtplibSend(system.smtpPort, [
      { from: 'sender@remote.test', to: [USERS.ledger], data: Buffer.from(`Subject: ${subject}\r\n\r\nstill serving\r\n`) },
    ]);
    assert.equal(result!.ok, true, `normal client refused: ${JSON.stringify(result)}`);
    accepted.set(USERS.ledger, [...(accepted.get(USERS.ledger) ?? []), subject]);
  }

  async function normalPop3ClientServed(): Promise<void> {
    const client = await greeted(system.pop3Port);
    assert.match(await client.command('CAPA'), /^\+OK/);
    assert.match(await client.multiline(), /^UIDL\r$/m);
    assert.match(await client.command('QUIT'), /^\+OK/);
    client.close();
  }

  /** 3,000 silent TLS cycles to `port`: file descriptors stay bounded and come back well before the handshake deadline. */
  async function silentTlsCyclesLeaveNothing(service: 'smtp-ingress' | 'pop3-access', port: number): Promise<void> {
    const pid = system.services[service].child.pid!;
    const fds = await connectAndCloseLoop(pid, port, 3000);
    console.log(`${service} file descriptors during 3,000 silent TLS cycles: ${fds.before} before, ${fds.peak} at peak`);
    assert.ok(fds.peak - fds.before < FD_BOUND, `${fds.peak - fds.before} more file descriptors`);
    // The handshake deadline is a minute away: only closing on the client's FIN gives the sockets back now.
    assert.equal(await until(() => fdCount(pid) <= fds.before + 2, HANDSHAKE_TIMEOUT_MS / 4), true, `${fdCount(pid)} file descriptors`);
  }

  async function deliver(user: string, subject: string, body = 'x\r\n'): Promise<void> {
    const [result] = await smtplibSend(system.smtpPort, [{ from: 'sender@remote.test', to: [user], data: Buffer.from(`Subject: ${subject}\r\n\r\n${body}`) }]);
    assert.equal(result!.ok, true);
    accepted.set(user, [...(accepted.get(user) ?? []), subject]);
  }

  before(async () => {
    system = await startSystemWithUsers(Object.values(USERS), {
      env: {
        MAX_MESSAGE_BYTES: '300000',
        SMTP_MAX_COMMAND_LINE_BYTES: '512',
        SMTP_COMMAND_TIMEOUT_MS: '10000',
        SMTP_DATA_TIMEOUT_MS: '1500',
        SMTP_MAX_CONNECTIONS_PER_ADDRESS: String(MAX_PER_ADDRESS),
        SMTP_MAX_ERRORS: String(MAX_ERRORS),
        POP3_IDLE_TIMEOUT_MS: '10000',
        POP3_MAX_CONNECTIONS_PER_ADDRESS: String(MAX_PER_ADDRESS),
        SMTP_COMMAND_DEADLINE_MS: String(COMMAND_DEADLINE_MS),
        POP3_COMMAND_DEADLINE_MS: String(COMMAND_DEADLINE_MS),
        // Far away, so that only closing on the client's FIN can free a silent TLS connection's socket in time.
        SMTP_TLS_HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_TIMEOUT_MS),
        POP3_TLS_HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_TIMEOUT_MS),
      },
    });
  });
  after(async () => {
    await system?.stop();
  });

  // --- SMTP ------------------------------------------------------------------------------------------

  test('SMTP: garbage and NUL bytes are answered 500 5.5.2 until the error limit ends the session with 421 4.7.0', async () => {
    const client = await greeted(system.smtpPort);
    const noise = pseudoRandomBytes(4000, 0x5eed);
    const lines: Buffer[] = [];
    for (let i = 0; i < 20; i++) {
      // Lines of noise without LF, every other one mostly NUL bytes.
      const line = Buffer.from(noise.subarray(i * 150, i * 150 + 150).filter((b) => b !== 0x0a));
      if (i % 2 === 1) line.fill(0, 0, 100);
      lines.push(line, Buffer.from('\r\n'));
    }
    client.send(Buffer.concat(lines)); // all at once, and more than the limit
    for (let i = 1; i < MAX_ERRORS; i++) assert.match(await client.reply(), /^500 5\.5\.2 /, `garbage line ${i}`);
    assert.match(await client.reply(), /^421 4\.7\.0 Too many errors/);
    assert.equal(await client.waitClosed(), true);
    await normalSmtpClientServed();
  });

  test('SMTP: invalid UTF-8 in every command gets the answer its syntax deserves, never a crash', async () => {
    let client = await greeted(system.smtpPort);
    const bad = Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80]); // truncated, impossible, surrogate
    const say = async (...parts: (string | Buffer)[]) => {
      client.send(Buffer.concat([...parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)), Buffer.from('\r\n')]));
      return client.reply();
    };
    assert.match(await say(bad), /^500 5\.5\.2 /);
    assert.match(await say('EHLO ', bad), /^501 5\.5\.4 /);
    assert.match(await say('EHLO client.test'), /^250-/);
    const ff = Buffer.from([0xff]); // decodes to U+FFFD alone, which must not pass for a UTF-8 character
    assert.equal(await say('EHLO ', ff, '.example'), '501 5.5.4 Invalid domain name');
    assert.equal(await say('MAIL FROM:<', bad, '@remote.test>'), '501 5.1.7 Bad address syntax: invalid local part');
    assert.equal(await say('MAIL FROM:<', ff, '@remote.test> SMTPUTF8'), '501 5.1.7 Bad address syntax: invalid local part');
    assert.equal(await say('MAIL FROM:<sender@', ff, '.test> SMTPUTF8'), '501 5.1.7 Bad address syntax: invalid domain');
    assert.equal(await say('MAIL FROM:<"', ff, '"@remote.test> SMTPUTF8'), '501 5.1.7 Bad address syntax: invalid local part');
    assert.match(await say('MAIL FROM:<sender@remote.test> BODY=', bad), /^501 5\.5\.4 BODY must be/);
    client.close();
    // A second session, so that the error limit is not reached.
    client = await greeted(system.smtpPort);
    assert.match(await say('EHLO client.test'), /^250-/);
    assert.match(await say('MAIL FROM:<sender@remote.test>'), /^250 2\.1\.0 /);
    assert.equal(await say('RCPT TO:<', ff, '@example.test>'), '501 5.1.3 Bad address syntax: invalid local part');
    assert.match(await say('RCPT TO:<', bad, '@example.test> SMTPUTF8'), /^501 5\.1\.3 /);
    assert.match(await say('DATA ', bad), /^501 5\.5\.4 /);
    assert.match(await say('RSET ', bad), /^501 5\.5\.4 /);
    assert.match(await say('NOOP ', bad), /^250 2\.0\.0 /);
    assert.match(await say('VRFY ', bad), /^252 2\.5\.0 /);
    assert.match(await say('HELP ', bad), /^214/);
    client.close();
    await normalSmtpClientServed();
  });

  test('SMTP: a 100 MB line is discarded as it streams: 500 5.5.2, memory bounded, the session goes on', async () => {
    const client = await greeted(system.smtpPort);
    assert.match(await client.command('EHLO client.test'), /^250-/);
    const memory = await rssGrowthDuring(smtpPid(), async () => {
      assert.equal(await stream(client.socket, Buffer.alloc(256 * 1024, 'x'), 100 * MB), true, 'the server kept reading');
      assert.match(await client.command(''), /^500 5\.5\.2 Line too long/);
    });
    console.log(`smtp-ingress RSS for a 100 MB line: ${mbText(memory.before)} before, ${mbText(memory.peak)} at peak`);
    assert.ok(memory.growth < RSS_BOUND, `RSS grew by ${mbText(memory.growth)}`);
    assert.match(await client.command('NOOP'), /^250 2\.0\.0 /);
    client.close();
  });

  test('SMTP: a half-closed socket still gets every answer (the connection is half-open), then a clean close', async () => {
    const client = await greeted(system.smtpPort);
    const subject = 'half-closed after the terminator';
    client.send(`EHLO half.test\r\nMAIL FROM:<sender@remote.test>\r\nRCPT TO:<${USERS.half}>\r\nDATA\r\nSubject: ${subject}\r\n\r\nbye\r\n.\r\n`);
    client.socket.end(); // FIN: nothing more from the client, but it still reads
    for (const pattern of [/^250-/, /^250 2\.1\.0 /, /^250 2\.1\.5 /, /^354 /, /^250 2\.0\.0 OK: queued as /]) {
      assert.match(await client.reply(5000), pattern);
    }
    assert.equal(await client.waitClosed(), true);
    accepted.set(USERS.half, [subject]);
    await normalSmtpClientServed();
  });

  test('SMTP: a client that never reads its replies is dropped once its unread output passes the cap; others unaffected', async () => {
    const socket = await rawSocket(system.smtpPort);
    socket.pause(); // reads nothing, ever
    const bystander = await greeted(system.smtpPort);
    const flood = Buffer.from('NOOP\r\n'.repeat(20_000));
    const memory = await rssGrowthDuring(smtpPid(), async () => {
      const started = Date.now();
      while (!socket.destroyed && Date.now() - started < 20_000) {
        if (!(await stream(socket, flood, flood.length))) break;
        // Meanwhile another session is answered at once.
        if (Date.now() - started < 200) assert.match(await bystander.command('NOOP'), /^250 2\.0\.0 /);
      }
      assert.equal(await until(() => socket.destroyed, 5000), true, 'the server dropped the connection');
    });
    console.log(`smtp-ingress RSS with a client that never reads: ${mbText(memory.before)} before, ${mbText(memory.peak)} at peak`);
    assert.ok(memory.growth < RSS_BOUND, `RSS grew by ${mbText(memory.growth)}`);
    assert.match(await bystander.command('NOOP'), /^250 2\.0\.0 /);
    bystander.close();
    await normalSmtpClientServed();
  });

  test('SMTP: 100,000 pipelined commands in one write are all answered, in order, with memory bounded', async () => {
    const socket = await rawSocket(system.smtpPort);
    const lines = countLines(socket, [/^250 2\.0\.0 OK$/, /^250 2\.0\.0 Reset OK$/]);
    const memory = await rssGrowthDuring(smtpPid(), async () => {
      socket.write('NOOP\r\nRSET\r\n'.repeat(50_000));
      await until(() => lines.count >= 100_000 || lines.closed || lines.unexpected.length > 1, 30_000);
    });
    console.log(`smtp-ingress RSS for 100k pipelined commands: ${mbText(memory.before)} before, ${mbText(memory.peak)} at peak`);
    // The greeting is the one line that is not a NOOP or RSET reply.
    assert.deepEqual(lines.unexpected.map((l) => l.slice(0, 4)), ['220 ']);
    assert.equal(lines.count, 100_000);
    assert.equal(lines.closed, false);
    socket.write('QUIT\r\n');
    assert.equal(await until(() => lines.closed, 5000), true);
    assert.ok(memory.growth < RSS_BOUND, `RSS grew by ${mbText(memory.growth)}`);
  });

  test('SMTP: a DATA that never ends is cut with 421 4.4.2 after the data timeout and nothing is delivered', async () => {
    const client = await greeted(system.smtpPort);
    await client.command('EHLO client.test');
    assert.match(await client.command('MAIL FROM:<sender@remote.test>'), /^250/);
    assert.match(await client.command(`RCPT TO:<${USERS.never}>`), /^250/);
    assert.match(await client.command('DATA'), /^354 /);
    // 5 MB of message (over the size limit) without a terminator, then silence.
    const memory = await rssGrowthDuring(smtpPid(), async () => {
      assert.equal(await stream(client.socket, Buffer.from('Subject: never ends\r\n'.padEnd(1000, 'z') + '\r\n'), 5 * MB), true);
    });
    assert.ok(memory.growth < RSS_BOUND, `RSS grew by ${mbText(memory.growth)}`);
    assert.match(await client.reply(5000), /^421 4\.4\.2 Timeout/);
    assert.equal(await client.waitClosed(), true);
    await normalSmtpClientServed();
  });

  test('SMTP: a connection dropped in the middle of DATA delivers nothing and the server goes on', async () => {
    for (let i = 0; i < 3; i++) {
      const client = await greeted(system.smtpPort);
      client.send(`EHLO drop.test\r\nMAIL FROM:<sender@remote.test>\r\nRCPT TO:<${USERS.dropped}>\r\nDATA\r\n`);
      for (const pattern of [/^250-/, /^250 2\.1\.0/, /^250 2\.1\.5/, /^354 /]) assert.match(await client.reply(), pattern);
      // Cut after the headers, at a line start, and even right after "<CRLF>." (one byte short of the end).
      client.send(['Subject: cut\r\n\r\nhalf a mess', 'Subject: cut\r\n\r\nline\r\n', 'Subject: cut\r\n\r\nline\r\n.'][i]!);
      await new Promise((r) => setTimeout(r, 50));
      client.close();
    }
    await normalSmtpClientServed();
  });

  test(`SMTP: connections from one address beyond ${MAX_PER_ADDRESS} are answered 421 4.7.0 and closed; the others keep working`, async () => {
    let held: RawClient[] = [];
    // Sockets of the earlier tests may still be closing on the server side: wait until all slots are free.
    for (let attempt = 0; ; attempt++) {
      held = await Promise.all(Array.from({ length: MAX_PER_ADDRESS }, () => RawClient.connect(system.smtpPort)));
      const greetings = await Promise.all(held.map((c) => c.reply()));
      if (greetings.every((g) => g.startsWith('220 '))) break;
      for (const c of held) c.close();
      assert.ok(attempt < 20, `slots still taken: ${greetings.join(' | ')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const excess = await Promise.all(Array.from({ length: 3 }, () => RawClient.connect(system.smtpPort)));
    for (const client of excess) {
      assert.equal(await client.reply(), `421 4.7.0 Too many connections from your address (at most ${MAX_PER_ADDRESS}), try again later`);
      assert.equal(await client.waitClosed(), true);
    }
    for (const client of held) assert.match(await client.command('NOOP'), /^250 2\.0\.0 /);
    for (const client of held) client.close();
    await new Promise((r) => setTimeout(r, 200));
    await normalSmtpClientServed();
  });

  test(`SMTP: slowloris clients trickling a byte every ${TRICKLE_MS} ms are cut with 421 4.4.2 at the command deadline; then a normal client is served`, async () => {
    // They take every slot this address has: while they live, nobody else from here gets in.
    const clients = await Promise.all(Array.from({ length: MAX_PER_ADDRESS }, () => greeted(system.smtpPort)));
    const last = await trickle(clients, `EHLO ${'slow'.repeat(100)}.example\r\n`);
    for (const reply of last) assert.match(reply, /^421 4\.4\.2 /);
    for (const client of clients) assert.equal(await client.waitClosed(), true);
    await normalSmtpClientServed();
  });

  test('SMTP: a DATA section trickled a byte at a time falls behind SMTP_MIN_DATA_RATE and is cut with 421 4.4.2; nothing is delivered', async () => {
    const client = await greeted(system.smtpPort);
    client.send(`EHLO slow.test\r\nMAIL FROM:<sender@remote.test>\r\nRCPT TO:<${USERS.never}>\r\nDATA\r\n`);
    for (const pattern of [/^250-/, /^250 2\.1\.0/, /^250 2\.1\.5/, /^354 /]) assert.match(await client.reply(), pattern);
    const [last] = await trickle([client], 'Subject: slow\r\n\r\nx\r\n');
    assert.match(last!, /^421 4\.4\.2 /);
    assert.equal(await client.waitClosed(), true);
    await normalSmtpClientServed();
  });

  test('SMTPS: 3,000 connect-and-close cycles before any TLS handshake leave no sockets behind, and clients are served', async () => {
    await silentTlsCyclesLeaveNothing('smtp-ingress', system.smtpsPort);
    assert.match(await tlsGreeting(system.smtpsPort), /^220 /);
    await normalSmtpClientServed();
  });

  test('SMTPS: silent connections count against the connection limits from accept, before their handshake', async () => {
    const silent = await holdEverySlot(system.smtpsPort);
    const refusal = `421 4.7.0 Too many connections from your address (at most ${MAX_PER_ADDRESS}), try again later`;
    assert.equal(await firstLineOnceIt(system.smtpPort, /^421 4\.7\.0 Too many connections from your address/), refusal);
    for (const socket of silent) socket.destroy();
    assert.match(await firstLineOnceIt(system.smtpPort, /^220 /), /^220 /);
    await normalSmtpClientServed();
  });

  // --- POP3 ------------------------------------------------------------------------------------------

  test(`POP3: slowloris clients trickling a byte every ${TRICKLE_MS} ms are logged out at the command deadline; then a normal client is served`, async () => {
    const clients = await Promise.all(Array.from({ length: MAX_PER_ADDRESS }, () => greeted(system.pop3Port)));
    const last = await trickle(clients, `USER ${'slow'.repeat(100)}\r\n`);
    for (const reply of last) assert.equal(reply, '-ERR Autologout: command too slow');
    for (const client of clients) assert.equal(await client.waitClosed(), true);
    await normalPop3ClientServed();
  });

  test('POP3S: 3,000 connect-and-close cycles before any TLS handshake leave no sockets behind, and clients are served', async () => {
    await silentTlsCyclesLeaveNothing('pop3-access', system.pop3sPort);
    assert.match(await tlsGreeting(system.pop3sPort), /^\+OK/);
    await normalPop3ClientServed();
  });

  test('POP3S: silent connections count against the connection limits from accept, before their handshake', async () => {
    const silent = await holdEverySlot(system.pop3sPort);
    const refusal = '-ERR [SYS/TEMP] Too many connections from your address, try again later';
    assert.equal(await firstLineOnceIt(system.pop3Port, /^-ERR \[SYS\/TEMP\] Too many connections from your address/), refusal);
    for (const socket of silent) socket.destroy();
    assert.match(await firstLineOnceIt(system.pop3Port, /^\+OK/), /^\+OK/);
    await normalPop3ClientServed();
  });


  test('POP3: garbage and NUL bytes are answered -ERR line by line and the session goes on', async () => {
    const client = await greeted(system.pop3Port);
    const noise = pseudoRandomBytes(3000, 0xbad);
    const lines: Buffer[] = [];
    for (let i = 0; i < 20; i++) {
      const line = Buffer.from(noise.subarray(i * 150, i * 150 + 150).filter((b) => b !== 0x0a));
      if (i % 2 === 1) line.fill(0, 0, 100);
      lines.push(line, Buffer.from('\r\n'));
    }
    client.send(Buffer.concat(lines));
    for (let i = 0; i < 20; i++) assert.match(await client.reply(), /^-ERR (Unknown command|Empty command)$/, `garbage line ${i}`);
    client.send(Buffer.from([0xff, 0xfe, 0x0d, 0x0a]));
    assert.equal(await client.reply(), '-ERR Unknown command');
    client.send(Buffer.concat([Buffer.from('USER '), Buffer.from([0xc3, 0x28, 0x00]), Buffer.from('\r\nPASS x\r\n')]));
    assert.match(await client.reply(), /^\+OK/);
    assert.equal(await client.reply(), '-ERR [AUTH] Invalid user name or password');
    client.close();
    await normalPop3ClientServed();
  });

  test('POP3: a 100 MB line is discarded as it streams: -ERR Line too long, memory bounded', async () => {
    const client = await greeted(system.pop3Port);
    const memory = await rssGrowthDuring(pop3Pid(), async () => {
      assert.equal(await stream(client.socket, Buffer.alloc(256 * 1024, 'u'), 100 * MB), true, 'the server kept reading');
      assert.equal(await client.command(''), '-ERR Line too long');
    });
    console.log(`pop3-access RSS for a 100 MB line: ${mbText(memory.before)} before, ${mbText(memory.peak)} at peak`);
    assert.ok(memory.growth < RSS_BOUND, `RSS grew by ${mbText(memory.growth)}`);
    assert.match(await client.command('CAPA'), /^\+OK/);
    await client.multiline();
    client.close();
  });

  test('POP3: 100,000 pipelined commands in one write are all answered, in order', async () => {
    await deliver(USERS.flood, 'flood');
    await waitForMessageCount(system, USERS.flood, 1);
    const socket = await rawSocket(system.pop3Port);
    socket.write(`USER ${USERS.flood}\r\nPASS ${PASSWORD}\r\n`);
    const lines = countLines(socket, [/^\+OK 1 \d+$/, /^\+OK$/]);
    const memory = await rssGrowthDuring(pop3Pid(), async () => {
      socket.write('STAT\r\nNOOP\r\n'.repeat(50_000));
      await until(() => lines.count >= 100_000 || lines.closed || lines.unexpected.length > 3, 30_000);
    });
    console.log(`pop3-access RSS for 100k pipelined commands: ${mbText(memory.before)} before, ${mbText(memory.peak)} at peak`);
    assert.deepEqual(
      lines.unexpected.map((l) => l.split(' ').slice(0, 2).join(' ')),
      ['+OK pop.test.local', '+OK Send', '+OK Logged'],
      'the greeting, USER and PASS are the only other lines',
    );
    assert.equal(lines.count, 100_000);
    assert.equal(lines.closed, false);
    socket.write('QUIT\r\n');
    assert.equal(await until(() => lines.closed, 5000), true);
    assert.ok(memory.growth < RSS_BOUND, `RSS grew by ${mbText(memory.growth)}`);
  });

  test('POP3: a client that never reads its responses is dropped once its unread output passes the cap; others unaffected', async () => {
    const socket = await rawSocket(system.pop3Port);
    socket.pause(); // reads nothing, ever
    const flood = Buffer.from('NOOP\r\n'.repeat(20_000)); // each answered "-ERR Not authenticated yet"
    const memory = await rssGrowthDuring(pop3Pid(), async () => {
      const started = Date.now();
      let sent = 0;
      while (!socket.destroyed && Date.now() - started < 20_000 && sent < 40 * MB) {
        if (!(await stream(socket, flood, flood.length))) break;
        sent += flood.length;
      }
      assert.equal(await until(() => socket.destroyed, 5000), true, `the server dropped the connection (${mbText(sent)} sent)`);
    });
    console.log(`pop3-access RSS with a client that never reads: ${mbText(memory.before)} before, ${mbText(memory.peak)} at peak`);
    assert.ok(memory.growth < RSS_BOUND, `RSS grew by ${mbText(memory.growth)}`);
    await normalPop3ClientServed();
  });

  test('POP3: a connection dropped in the middle of RETR releases the maildrop lock', async () => {
    await deliver(USERS.retr, 'big', 'y'.repeat(998).concat('\r\n').repeat(250)); // 250 KB
    await waitForMessageCount(system, USERS.retr, 1);
    const client = await greeted(system.pop3Port);
    await client.command(`USER ${USERS.retr}`);
    assert.match(await client.command(`PASS ${PASSWORD}`), /^\+OK/);
    client.socket.pause();
    client.send('RETR 1\r\n');
    await new Promise((r) => setTimeout(r, 200));
    client.close();
    const next = await greeted(system.pop3Port);
    await next.command(`USER ${USERS.retr}`);
    let login = await next.command(`PASS ${PASSWORD}`);
    for (let i = 0; i < 20 && login.startsWith('-ERR [IN-USE]'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      await next.command(`USER ${USERS.retr}`);
      login = await next.command(`PASS ${PASSWORD}`);
    }
    assert.match(login, /^\+OK/);
    assert.match(await next.command('STAT'), /^\+OK 1 \d+$/, 'the message is still there');
    next.close();
  });

  test('POP3: a connection dropped while its login is in flight does not leave the maildrop locked', async () => {
    const socket = await rawSocket(system.pop3Port);
    socket.write(`USER ${USERS.race}\r\nPASS ${PASSWORD}\r\n`);
    socket.destroy();
    await new Promise((r) => setTimeout(r, 300));
    const client = await greeted(system.pop3Port);
    await client.command(`USER ${USERS.race}`);
    assert.match(await client.command(`PASS ${PASSWORD}`), /^\+OK Logged in/);
    client.close();
  });

  // --- No accepted message lost ----------------------------------------------------------------------

  test('every message accepted with 250 during the attacks arrives, and none of the cut ones does', async () => {
    for (const [user, subjects] of accepted) {
      await waitForMessageCount(system, user, subjects.length, 30_000);
      const fetched = await poplibFetch(system.pop3Port, user, PASSWORD);
      assert.equal(fetched.error, '');
      const got = fetched.messages.map((m) => /^Subject: (.*)\r$/m.exec(m.toString('latin1'))?.[1]).sort();
      assert.deepEqual(got, [...subjects].sort(), user);
    }
    for (const user of [USERS.never, USERS.dropped]) {
      const fetched = await poplibFetch(system.pop3Port, user, PASSWORD);
      assert.deepEqual(fetched.stat, [0, 0], `${user} got a message`);
    }
  });
});
