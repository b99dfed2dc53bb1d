// Accepting a client connection on a mail listener: an optional PROXY protocol header (believed only
// from trusted proxy networks) and an optional implicit TLS handshake, before the protocol starts.
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { parseProxyHeader } from './proxy-protocol.js';
import type { TlsMaterial } from './tls.js';

export interface AcceptOptions {
  /** Expect a PROXY header from peers for which this returns true (the load balancers). */
  isTrustedProxy: (address: string) => boolean;
  proxyProtocol: boolean;
  implicitTls?: TlsMaterial;
  timeoutMs: number;
}

export interface AcceptedConnection {
  socket: Socket;
  clientAddress: string;
}

const plainAddress = (address: string | undefined) => (address ?? '').replace(/^::ffff:/, '');

/** Resolves with the socket to talk on and the client's real address, or undefined if the peer failed. */
export async function acceptConnection(raw: Socket, options: AcceptOptions): Promise<AcceptedConnection | undefined> {
  let clientAddress = plainAddress(raw.remoteAddress);
  let transport: Duplex = raw;
  if (options.proxyProtocol && options.isTrustedProxy(clientAddress)) {
    const header = await readProxyHeader(raw, options.timeoutMs);
    if (!header) {
      raw.destroy();
      return undefined;
    }
    if (header.proxied.address) clientAddress = plainAddress(header.proxied.address);
    if (options.implicitTls) {
      // TLS reads the socket natively and would miss bytes already taken: hand it a stream that starts with them.
      transport = withPrefix(raw, header.rest);
    } else {
      if (header.rest.length > 0) raw.unshift(header.rest);
      raw.resume();
    }
  }
  if (!options.implicitTls) return { socket: raw, clientAddress };
  const secure = new TLSSocket(transport as Socket, { isServer: true, secureContext: options.implicitTls.context() });
  const ok = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), options.timeoutMs);
    secure.once('secure', () => {
      clearTimeout(timer);
      resolve(true);
    });
    secure.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (!ok) {
    secure.destroy();
    raw.destroy();
    return undefined;
  }
  return { socket: secure, clientAddress };
}

/** A duplex over `socket` whose readable side first yields `prefix`. */
function withPrefix(socket: Socket, prefix: Buffer): Duplex {
  const duplex = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _encoding, callback) => void socket.write(chunk, callback),
    final: (callback) => {
      socket.end();
      callback();
    },
    destroy: (err, callback) => {
      socket.destroy();
      callback(err);
    },
  });
  if (prefix.length > 0) duplex.push(prefix);
  socket.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('close', () => duplex.destroy());
  socket.on('error', () => duplex.destroy());
  socket.resume();
  return duplex;
}

/** Reads the PROXY header; returns it with the bytes that followed, or undefined when missing or malformed. */
function readProxyHeader(socket: Socket, timeoutMs: number): Promise<{ proxied: { address?: string }; rest: Buffer } | undefined> {
  return new Promise((resolve) => {
    let buffer = Buffer.alloc(0);
    const finish = (result: { proxied: { address?: string }; rest: Buffer } | undefined) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const parsed = parseProxyHeader(buffer);
      if (parsed.state === 'need-more') return;
      socket.pause();
      if (parsed.state === 'invalid') return finish(undefined);
      finish({ proxied: parsed.proxied, rest: buffer.subarray(parsed.consumed) });
    };
    const onClose = () => finish(undefined);
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}
