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
  const timer = setTimeout(() => secure.destroy(new Error('TLS handshake timed out')), timeoutMs);
  secure.once('secure', () => {
    clearTimeout(timer);
    handlers.secure(secure);
  });
  secure.once('error', (err) => {
    clearTimeout(timer);
    secure.destroy();
    plain.destroy();
    handlers.failed(err);
  });
}

/** Open connections of a process's listeners, in all and per client address. */
export class ConnectionLimits {
  private total = 0;
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerAddress: number,
  ) {}

  /** Takes a slot, or says which limit refuses the connection. */
  open(address: string): 'total' | 'per-address' | undefined {
    if (this.total >= this.maxTotal) return 'total';
    const current = this.perAddress.get(address) ?? 0;
    if (current >= this.maxPerAddress) return 'per-address';
    this.total++;
    this.perAddress.set(address, current + 1);
    return undefined;
  }

  close(address: string): void {
    this.total--;
    const current = (this.perAddress.get(address) ?? 1) - 1;
    if (current <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, current);
  }
}
