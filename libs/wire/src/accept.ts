// Accepting a client connection on a mail listener: the connection takes its slot in the connection
// table at once, then an optional PROXY header (believed only from trusted proxy networks) and an
// optional implicit TLS handshake run under one deadline, before the protocol starts. A client that
// closes meanwhile is let go at once.
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { ConnectionLimits, ConnectionRefusal } from './connection-limits.js';
import { parseProxyHeader } from './proxy-protocol.js';
import type { TlsMaterial } from './tls.js';

export interface AcceptOptions {
  /** Expect a PROXY header from peers for which this returns true (the load balancers). */
  isTrustedProxy: (address: string) => boolean;
  proxyProtocol: boolean;
  implicitTls?: TlsMaterial;
  /** How long the PROXY header and the TLS handshake may take together. */
  handshakeTimeoutMs: number;
  connections: ConnectionLimits;
  /** What a client refused by a limit is told; on an implicit-TLS port it is disconnected without a word. */
  refusal: (limit: ConnectionRefusal) => string;
}

export interface AcceptedConnection {
  socket: Socket;
  clientAddress: string;
}

const plainAddress = (address: string | undefined) => (address ?? '').replace(/^::ffff:/, '');

/** Resolves with the socket to talk on and the client's real address, or undefined if refused or the peer failed. */
export async function acceptConnection(raw: Socket, options: AcceptOptions): Promise<AcceptedConnection | undefined> {
  let clientAddress = plainAddress(raw.remoteAddress);
  const expectsProxy = options.proxyProtocol && options.isTrustedProxy(clientAddress);
  const slot = options.connections.take(expectsProxy ? undefined : clientAddress);
  if (typeof slot === 'string') {
    refuse(raw, options, slot);
    return undefined;
  }
  raw.once('close', () => slot.release());
  // One deadline for everything before the protocol starts; a FIN meanwhile means there is nobody to serve.
  const deadline = setTimeout(() => raw.destroy(), options.handshakeTimeoutMs);
  const hangUp = () => raw.destroy();
  raw.once('end', hangUp);
  try {
    let transport: Duplex = raw;
    if (expectsProxy) {
      const header = await readProxyHeader(raw);
      if (!header) {
        raw.destroy();
        return undefined;
      }
      if (header.proxied.address) {
        clientAddress = plainAddress(header.proxied.address);
        const refusal = slot.assign(clientAddress);
        if (refusal) {
          refuse(raw, options, refusal);
          return undefined;
        }
      }
      if (options.implicitTls) {
        // TLS reads the socket natively and would miss bytes already taken: hand it a stream that starts with them.
        transport = withPrefix(raw, header.rest);
      } else {
        if (header.rest.length > 0) raw.unshift(header.rest);
        raw.resume();
      }
    }
    if (!options.implicitTls) return raw.destroyed ? undefined : { socket: raw, clientAddress };
    const secure = new TLSSocket(transport as Socket, { isServer: true, secureContext: options.implicitTls.context() });
    secure.once('close', () => slot.release());
    const ok = await new Promise<boolean>((resolve) => {
      secure.once('secure', () => resolve(true));
      for (const event of ['error', 'end', 'close']) secure.once(event, () => resolve(false));
      raw.once('close', () => resolve(false));
    });
    if (!ok) {
      secure.destroy();
      raw.destroy();
      return undefined;
    }
    return { socket: secure, clientAddress };
  } finally {
    clearTimeout(deadline);
    raw.off('end', hangUp);
  }
}

/** Tells a client over a limit so (plain text only) and closes; a peer that never closes its side is cut. */
function refuse(raw: Socket, options: AcceptOptions, limit: ConnectionRefusal): void {
  if (options.implicitTls) {
    raw.destroy();
    return;
  }
  raw.end(options.refusal(limit));
  raw.setTimeout(options.handshakeTimeoutMs, () => raw.destroy());
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
function readProxyHeader(socket: Socket): Promise<{ proxied: { address?: string }; rest: Buffer } | undefined> {
  return new Promise((resolve) => {
    let buffer = Buffer.alloc(0);
    const finish = (result: { proxied: { address?: string }; rest: Buffer } | undefined) => {
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
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/**
 * Upgrades a plain connection after STARTTLS/STLS. The caller has already dropped what the client
 * sent before the handshake (CVE-2011-0411); this detaches the plain socket's readers, negotiates TLS
 * with the current certificate, and reports the secure socket or the failure (both sockets destroyed).
 */
export function upgradeToTls(
  plain: Socket,
  tls: TlsMaterial,
  timeoutMs: number,
  handlers: { secure: (socket: TLSSocket) => void; failed: (err: Error) => void },
): void {
  plain.removeAllListeners('data');
  plain.removeAllListeners('timeout');
  plain.setTimeout(0);
  const secure = new TLSSocket(plain, { isServer: true, secureContext: tls.context() });
  let settled = false;
  const fail = (err: Error) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    secure.destroy();
    plain.destroy();
    handlers.failed(err);
  };
  const timer = setTimeout(() => fail(new Error('TLS handshake timed out')), timeoutMs);
  const hungUp = () => fail(new Error('client closed the connection during the TLS handshake'));
  secure.once('end', hungUp);
  secure.once('close', hungUp);
  secure.once('error', fail);
  secure.once('secure', () => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    secure.off('end', hungUp);
    secure.off('close', hungUp);
    handlers.secure(secure);
  });
}
