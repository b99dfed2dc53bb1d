// The line connection over loopback TCP, driving a small protocol of its own: pipelined commands are
// answered in order one at a time, input past the limit pauses the socket, slow and idle clients are let
// go, STARTTLS throws away what came before the handshake, a client that does not read is dropped, and a
// drain lets each session finish what it is in the middle of.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { LineConnection, LiveConnections, type AfterReply, type ConnectionEvent, type DataMode, type LineConnectionSettings, type LineProtocol, type WireReply } from './line-connection.js';
import { selfSignedTlsMaterial } from './self-signed.test-support.js';

const tls = await selfSignedTlsMaterial('line-connection-test-');

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface TestReply {
  text: string | AsyncIterable<Uint8Array>;
  then?: AfterReply;
}

/**
 * A protocol for the tests: "SLOW ms" answers after ms, "WAIT" when the test opens the gate, "DATA n"
 * reads n bytes (answered after them, as BDAT is), "BEGIN"/"COMMIT" a transaction, "BIG n" an n-byte
 * reply, "STREAM n" n pieces of 1 KiB, "STARTTLS", "QUIT" (the client ends) and "CLOSE" (the server ends);
 * anything else is echoed "ok <line>".
 */
class TestProtocol implements LineProtocol<TestReply> {
  readonly lines: string[] = [];
  private readonly reported: ConnectionEvent[] = [];
  inFlight = 0;
  mostInFlight = 0;
  secure = false;
  gone = false;
  private openGate: (() => void) | undefined;
  private gate = new Promise<void>((resolve) => (this.openGate = resolve));
  private inTransaction = false;
  private dataWanted = 0;
  private dataSeen: Buffer[] = [];

  open(): void {
    this.openGate!();
  }

  greeting(): TestReply {
    return { text: 'hello' };
  }

  async command(line: string): Promise<TestReply | undefined> {
    this.lines.push(line);
    this.inFlight++;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    try {
      const [verb, argument = ''] = line.split(' ');
      if (verb === 'SLOW') await tick(Number(argument));
      if (verb === 'WAIT') await this.gate;
      if (verb === 'FAIL') throw new Error('broken');
      if (verb === 'BEGIN') this.inTransaction = true;
      if (verb === 'COMMIT') this.inTransaction = false;
      if (verb === 'DATA') {
        this.dataWanted = Number(argument);
        return undefined;
      }
      if (verb === 'BIG') return { text: 'x'.repeat(Number(argument)) + '\r\n' };
      if (verb === 'STREAM') return { text: pieces(Number(argument)) };
      if (verb === 'STARTTLS') return { text: 'go ahead', then: 'start-tls' };
      if (verb === 'QUIT') return { text: 'bye', then: 'hang-up' };
      if (verb === 'CLOSE') return { text: 'closing', then: 'close' };
      return { text: `ok ${line}` };
    } finally {
      this.inFlight--;
    }
  }

  get data(): DataMode<TestReply> {
    return this;
  }
  get readingData(): boolean {
    return this.dataWanted > 0;
  }
  pushData(input: Buffer): number {
    const used = Math.min(this.dataWanted, input.length);
    this.dataSeen.push(input.subarray(0, used));
    this.dataWanted -= used;
    return this.dataWanted === 0 ? used : -1;
  }
  async finishData(): Promise<TestReply> {
    const text = `got ${Buffer.concat(this.dataSeen).toString()}`;
    this.dataSeen = [];
    return { text };
  }

  lineTooLong(): TestReply {
    return { text: 'line too long' };
  }
  failed(): TestReply {
    return { text: 'failed', then: 'close' };
  }
  idle(): TestReply {
    return { text: 'idle', then: 'close' };
  }
  tooSlow(phase: 'command' | 'data'): TestReply {
    return { text: `too slow (${phase})`, then: 'close' };
  }
  shuttingDown(): TestReply {
    return { text: 'shutting down', then: 'close' };
  }
  get atRest(): boolean {
    return !this.inTransaction;
  }
  encode(reply: TestReply): WireReply {
    return typeof reply.text === 'string' ? (reply.text.endsWith('\r\n') ? reply.text : `${reply.text}\r\n`) : reply.text;
  }
  after(reply: TestReply): AfterReply {
    return reply.then ?? 'continue';
  }
  tlsStarted(): void {
    this.secure = true;
  }
  ended(): void {
    this.gone = true;
  }
  report(event: ConnectionEvent): void {
    this.reported.push(event);
  }
  /** What was reported, but for socket errors (a peer's reset). */
  get events(): ConnectionEvent[] {
    return this.reported.filter((event) => event.event !== 'socket-error');
  }
}

async function* pieces(count: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < count; i++) yield Buffer.from(`${String(i).padStart(1023, '.')}\n`);
  yield Buffer.from('end of stream\r\n');
}

const SETTINGS: LineConnectionSettings = { maxLineBytes: 512, idleTimeoutMs: 10_000, commandDeadlineMs: 10_000, tls, tlsHandshakeTimeoutMs: 5_000 };

/** A listener whose connections run a TestProtocol; half-open, as the mail listeners are. */
async function listener(settings: Partial<LineConnectionSettings> = {}) {
  const served: { protocol: TestProtocol; socket: Socket; connection: LineConnection<TestReply> }[] = [];
  const live = new LiveConnections();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    const protocol = new TestProtocol();
    const connection = new LineConnection(socket, protocol, { ...SETTINGS, ...settings });
    live.add(connection);
    served.push({ protocol, socket, connection });
    connection.start();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  after(() => server.close());
  return { port, served, live };
}

/** A client that collects what it is told, line by line. */
async function client(port: number) {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return talk(socket);
}

function talk(socket: Socket) {
  let received = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('close', () => (closed = true));
  socket.on('end', () => {
    closed = true;
    socket.end(); // as clients do: the server's FIN is answered with ours
  });
  const lines = () => received.split('\r\n').slice(0, -1);
  return {
    socket,
    lines,
    get closed() {
      return closed;
    },
    /** Waits until `count` lines have come (or the connection closed), and returns them. */
    async read(count: number, timeoutMs = 10_000): Promise<string[]> {
      await until(() => lines().length >= count || closed, timeoutMs);
      return lines();
    },
  };
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await tick(5);
  return condition();
}

test('pipelined commands are answered in the order they came, one at a time', async () => {
  const { port, served } = await listener();
  const c = await client(port);
  const commands = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? `SLOW ${20 - i}` : `NOOP ${i}`));
  for (const line of commands) {
    c.socket.write(`${line}\r\n`); // each in a segment of its own, mostly while another is in hand
    await tick(2);
  }
  const replies = await c.read(21);
  assert.deepEqual(replies, ['hello', ...commands.map((line) => `ok ${line}`)]);
  assert.equal(served[0]!.protocol.mostInFlight, 1);
  c.socket.destroy();
});

/** Counts the writes a socket hands to the kernel (a corked run of write() calls is one writev). */
function countWrites(socket: Socket): { readonly count: number } {
  const counter = { count: 0 };
  for (const method of ['_write', '_writev'] as const) {
    const original = (socket as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!;
    (socket as unknown as Record<string, unknown>)[method] = function (this: Socket, ...args: unknown[]) {
      counter.count++;
      return original.apply(this, args);
    };
  }
  return counter;
}

test('the replies to a pipelined group go out in one write; a command sent alone is answered at once', async () => {
  const { port, served } = await listener();
  const c = await client(port);
  await c.read(1);
  const writes = countWrites(served[0]!.socket);
  c.socket.write('NOOP 1\r\nSLOW 30\r\nNOOP 3\r\nDATA 2\r\n');
  assert.deepEqual(await c.read(4), ['hello', 'ok NOOP 1', 'ok SLOW 30', 'ok NOOP 3']);
  assert.equal(writes.count, 1, 'the three replies, and DATA\'s turn to read, in one write');
  c.socket.write('ok');
  assert.deepEqual(await c.read(5), ['hello', 'ok NOOP 1', 'ok SLOW 30', 'ok NOOP 3', 'got ok']);
  c.socket.write('NOOP 5\r\n');
  assert.deepEqual(await c.read(6), ['hello', 'ok NOOP 1', 'ok SLOW 30', 'ok NOOP 3', 'got ok', 'ok NOOP 5']);
  c.socket.write('NOOP 6\r\nNOOP 7'); // the next line not complete: nothing is held back waiting for it
  assert.deepEqual((await c.read(7)).slice(-1), ['ok NOOP 6']);
  assert.equal(writes.count, 4);
  c.socket.destroy();
});

test('a long pipelined group is answered whole, in writes of up to 64 KiB', async () => {
  const { port, served } = await listener({ maxPendingInput: 1024 * 1024 });
  const c = await client(port);
  await c.read(1);
  const writes = countWrites(served[0]!.socket);
  const commands = Array.from({ length: 20_000 }, (_, i) => `NOOP ${i}`);
  c.socket.write(commands.map((line) => `${line}\r\n`).join(''));
  const replies = await c.read(20_001);
  assert.deepEqual(replies.slice(1), commands.map((line) => `ok ${line}`));
  const bytes = replies.slice(1).reduce((sum, line) => sum + line.length + 2, 0);
  assert.ok(writes.count >= Math.ceil(bytes / (64 * 1024)) && writes.count <= 2 * Math.ceil(bytes / (64 * 1024)) + 2, `${writes.count} writes for ${bytes} bytes`);
  c.socket.destroy();
});

test('data after a command is read as bytes, and the commands pipelined behind it as lines again', async () => {
  const { port } = await listener();
  const c = await client(port);
  c.socket.write('DATA 5\r\nhelloNOOP\r\n');
  assert.deepEqual(await c.read(3), ['hello', 'got hello', 'ok NOOP']);
  c.socket.destroy();
});

test('input past the pending limit pauses the socket until the command in hand is answered', async () => {
  const { port, served } = await listener({ maxPendingInput: 4096 });
  const c = await client(port);
  await c.read(1);
  const lines = Array.from({ length: 2000 }, (_, i) => `NOOP ${String(i).padStart(100, '0')}`);
  c.socket.write(`WAIT\r\n${lines.map((line) => `${line}\r\n`).join('')}`);
  const { protocol, socket } = served[0]!;
  assert.equal(await until(() => socket.isPaused()), true, 'paused while WAIT is in hand');
  assert.deepEqual(protocol.lines, ['WAIT']);
  protocol.open();
  const replies = await c.read(2002);
  assert.deepEqual(replies.slice(1), ['ok WAIT', ...lines.map((line) => `ok ${line}`)]);
  assert.equal(socket.isPaused(), false);
  c.socket.destroy();
});

test('a command line not complete within the deadline is answered tooSlow and the connection closed', async () => {
  const { port, served } = await listener({ commandDeadlineMs: 150 });
  const c = await client(port);
  await c.read(1);
  c.socket.write('NO');
  const trickle = setInterval(() => c.socket.write('O'), 30); // never idle, never done
  assert.equal(await until(() => c.closed, 5_000), true);
  clearInterval(trickle);
  assert.deepEqual(c.lines(), ['hello', 'too slow (command)']);
  assert.deepEqual(served[0]!.protocol.events, [{ event: 'slow-client-dropped', phase: 'command' }]);
});

test('data that falls below the minimum rate is answered tooSlow', async () => {
  const { port, served } = await listener({ dataIdleTimeoutMs: 100, minDataRate: 100 });
  const c = await client(port);
  c.socket.write('DATA 1000\r\n');
  const trickle = setInterval(() => c.socket.write('x'), 20); // 50 bytes a second
  assert.equal(await until(() => c.closed, 5_000), true);
  clearInterval(trickle);
  assert.deepEqual(c.lines(), ['hello', 'too slow (data)']);
  assert.deepEqual(served[0]!.protocol.events, [{ event: 'slow-client-dropped', phase: 'data' }]);
});

test('a silent client is told idle() and let go', async () => {
  const { port } = await listener({ idleTimeoutMs: 100 });
  const c = await client(port);
  assert.equal(await until(() => c.closed, 5_000), true);
  assert.deepEqual(c.lines(), ['hello', 'idle']);
});

test('an over-long line is answered lineTooLong and the next line is served', async () => {
  const { port } = await listener();
  const c = await client(port);
  c.socket.write(`${'x'.repeat(2000)}\r\nNOOP\r\n`);
  assert.deepEqual(await c.read(3), ['hello', 'line too long', 'ok NOOP']);
  c.socket.destroy();
});

test('a command that throws is reported, answered failed() and the connection closed', async () => {
  const { port, served } = await listener();
  const c = await client(port);
  c.socket.write('FAIL\r\nNOOP\r\n');
  assert.equal(await until(() => c.closed), true);
  assert.deepEqual(c.lines(), ['hello', 'failed']);
  assert.deepEqual(served[0]!.protocol.events, [{ event: 'session-failed', error: 'broken' }]);
});

test('after the client FIN, what it sent before is answered, then our side closes', async () => {
  const { port, served } = await listener();
  const c = await client(port);
  c.socket.end('SLOW 50\r\nNOOP\r\n');
  assert.equal(await until(() => c.closed), true);
  assert.deepEqual(c.lines(), ['hello', 'ok SLOW 50', 'ok NOOP']);
  assert.equal(await until(() => served[0]!.protocol.gone), true);
});

test('QUIT: the connection is let go once the reply has left; a close of the server\'s own waits for the client', async () => {
  const { port, served } = await listener();
  // Clients that never close their side: the server's FIN is not answered.
  const quitter = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const lingerer = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const heard = await Promise.all(
    [quitter, lingerer].map(async (socket, i) => {
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      await until(() => served.length === i + 1);
      socket.write(i === 0 ? 'QUIT\r\nNOOP\r\n' : 'CLOSE\r\n');
      await once(socket, 'end');
      return received;
    }),
  );
  assert.deepEqual(heard, ['hello\r\nbye\r\n', 'hello\r\nclosing\r\n']);
  assert.equal(await until(() => served[0]!.protocol.gone, 5_000), true);
  await tick(200);
  assert.equal(served[1]!.protocol.gone, false, 'the server waits for the client it closed on');
  lingerer.end();
  assert.equal(await until(() => served[1]!.protocol.gone, 5_000), true);
  assert.deepEqual(served[0]!.protocol.lines, ['QUIT'], 'nothing after QUIT is read');
  quitter.destroy();
});

test('STARTTLS: what the client sent before the handshake is thrown away; the session goes on under TLS', async () => {
  const { port, served } = await listener();
  const c = await client(port);
  await c.read(1);
  c.socket.write('STARTTLS\r\nINJECTED\r\n'); // one segment: the second line is in the buffer at STARTTLS
  await c.read(2);
  c.socket.removeAllListeners('data');
  const secure = tlsConnect({ socket: c.socket, rejectUnauthorized: false });
  await once(secure, 'secureConnect');
  const s = talk(secure);
  secure.write('NOOP\r\n');
  assert.deepEqual(await s.read(1), ['ok NOOP']);
  assert.deepEqual(c.lines(), ['hello', 'go ahead']);
  assert.deepEqual(served[0]!.protocol.lines, ['STARTTLS', 'NOOP']);
  assert.equal(served[0]!.protocol.secure, true);
  secure.destroy();
});

test('a client that does not read its replies is dropped once they pile up', async () => {
  const { port, served } = await listener({ maxUnreadOutput: 256 * 1024 });
  const c = await client(port);
  c.socket.pause();
  c.socket.write('BIG 1000000\r\n'.repeat(40));
  const { protocol, socket } = served[0]!;
  assert.equal(await until(() => socket.destroyed), true);
  assert.deepEqual(protocol.events, [{ event: 'slow-reader-dropped' }]);
  c.socket.destroy();
});

test('a streamed reply is written whole, as the client reads it, before the next command is answered', async () => {
  const { port } = await listener();
  const c = await client(port);
  c.socket.write('STREAM 300\r\nNOOP\r\n');
  assert.equal(await until(() => c.lines().at(-1) === 'ok NOOP'), true);
  const [greeting, stream, next] = c.lines();
  assert.equal(greeting, 'hello');
  assert.deepEqual(stream!.split('\n'), [...Array.from({ length: 300 }, (_, i) => String(i).padStart(1023, '.')), 'end of stream']);
  assert.equal(next, 'ok NOOP');
  c.socket.destroy();
});

test('draining: a session at rest is told shuttingDown() at once, one in a transaction after it ends', async () => {
  const { port, served, live } = await listener();
  const idle = await client(port);
  const busy = await client(port);
  await idle.read(1);
  busy.socket.write('BEGIN\r\n');
  await busy.read(2);
  const drained = live.drain(5_000);
  assert.equal(await until(() => idle.closed), true);
  assert.deepEqual(idle.lines(), ['hello', 'shutting down']);
  assert.equal(busy.closed, false);
  busy.socket.write('COMMIT\r\n');
  await drained;
  assert.deepEqual(busy.lines(), ['hello', 'ok BEGIN', 'ok COMMIT', 'shutting down']);
  assert.equal(live.size, 0);
  assert.equal(served.length, 2);
});

test('draining while data is read: the farewell follows the data\'s reply', async () => {
  const { port, served, live } = await listener();
  const c = await client(port);
  c.socket.write('DATA 10\r\nhello');
  assert.equal(await until(() => served[0]?.protocol.readingData === true), true);
  const drained = live.drain(5_000);
  await tick(50);
  assert.deepEqual(c.lines(), ['hello']);
  c.socket.write('world');
  await drained;
  assert.deepEqual(c.lines(), ['hello', 'got helloworld', 'shutting down']);
});

test('draining during the TLS handshake: the farewell comes once TLS is up, inside it', async () => {
  const { port, live } = await listener();
  const c = await client(port);
  c.socket.write('STARTTLS\r\n');
  await c.read(2);
  c.socket.removeAllListeners('data');
  const drained = live.drain(5_000);
  const secure = tlsConnect({ socket: c.socket, rejectUnauthorized: false });
  await once(secure, 'secureConnect');
  const s = talk(secure);
  await drained;
  assert.deepEqual(await s.read(1), ['shutting down']);
  assert.deepEqual(c.lines(), ['hello', 'go ahead']);
});
