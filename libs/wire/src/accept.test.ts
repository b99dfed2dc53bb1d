// Accepting on a mail listener, over loopback TCP: the slot is taken at accept, a client that closes
// before or during the TLS handshake is let go at once, a silent one at the handshake deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { acceptConnection, type AcceptOptions } from './accept.js';
import { ConnectionLimits } from './connection-limits.js';
import { selfSignedTlsMaterial } from './self-signed.test-support.js';

const tls = await selfSignedTlsMaterial('accept-test-');

/** A listener that accepts with `options` and reports each outcome; its sockets are half-open, like the mail listeners'. */
async function listener(options: Omit<AcceptOptions, 'isTrustedProxy' | 'proxyProtocol' | 'refusal'>) {
  const outcomes: ('served' | 'gone')[] = [];
  const server: Server = createServer({ allowHalfOpen: true }, (raw) => {
    raw.on('error', () => undefined);
    void acceptConnection(raw, { ...options, proxyProtocol: false, isTrustedProxy: () => false, refusal: () => 'busy\r\n' }).then((accepted) => {
      outcomes.push(accepted ? 'served' : 'gone');
      accepted?.socket.end('hello\r\n');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return { server, port, outcomes };
}

async function connected(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return condition();
}

test('an implicit-TLS connection holds its slot from accept: a silent one keeps the next client out', async () => {
  const connections = new ConnectionLimits(10, 1);
  const { server, port } = await listener({ implicitTls: tls, handshakeTimeoutMs: 60_000, connections });
  const silent = await connected(port);
  assert.equal(await until(() => connections.open === 1), true);
  const second = await connected(port);
  await once(second, 'close'); // refused without a word: the port speaks TLS
  silent.destroy();
  assert.equal(await until(() => connections.open === 0), true, 'the slot is released when the client goes');
  server.close();
});

test('a client that sends FIN before its TLS handshake is closed at once, not at the deadline', async () => {
  const connections = new ConnectionLimits(10, 10);
  const { server, port, outcomes } = await listener({ implicitTls: tls, handshakeTimeoutMs: 600_000, connections });
  const client = await connected(port);
  client.end();
  await once(client, 'close');
  assert.equal(await until(() => outcomes.length === 1), true);
  assert.deepEqual(outcomes, ['gone']);
  assert.equal(await until(() => connections.open === 0), true);
  server.close();
});

test('a client that never completes its TLS handshake is cut at the handshake deadline', async () => {
  const connections = new ConnectionLimits(10, 10);
  const { server, port, outcomes } = await listener({ implicitTls: tls, handshakeTimeoutMs: 200, connections });
  const client = await connected(port);
  client.write(Buffer.from([0x16, 0x03, 0x01])); // the start of a ClientHello, and then nothing
  await once(client, 'close');
  assert.equal(await until(() => outcomes.length === 1), true);
  assert.deepEqual(outcomes, ['gone']);
  assert.equal(connections.open, 0);
  server.close();
});

test('a client that completes its handshake is served, and its slot is released when it closes', async () => {
  const connections = new ConnectionLimits(10, 10);
  const { server, port, outcomes } = await listener({ implicitTls: tls, handshakeTimeoutMs: 10_000, connections });
  const secure = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  const [greeting] = (await once(secure, 'data')) as [Buffer];
  assert.equal(greeting.toString(), 'hello\r\n');
  secure.end();
  assert.equal(await until(() => connections.open === 0), true);
  assert.deepEqual(outcomes, ['served']);
  server.close();
});

test('a plain connection over a limit is told why and closed', async () => {
  const connections = new ConnectionLimits(1, 1);
  const { server, port } = await listener({ handshakeTimeoutMs: 10_000, connections });
  const first = await connected(port);
  const second = await connected(port);
  const [reply] = (await once(second, 'data')) as [Buffer];
  assert.equal(reply.toString(), 'busy\r\n');
  first.destroy();
  second.destroy();
  server.close();
});
