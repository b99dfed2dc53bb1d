// The TCP side of pop3-access: command lines in, responses out, multi-line bodies streamed with
// byte-stuffing; STLS and implicit TLS; line length and the autologout timer. The connection table is
// taken at accept (@mail/platform).
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { drained } from '@mail/platform';
import { acceptConnection, ConnectionLimits, InputDeadline, LineReader, upgradeToTls, type ConnectionRefusal, type TlsMaterial } from '@mail/wire';
import type { Pop3Events } from './events.js';
import { dotStuff } from './protocol/multiline.js';
import { Pop3Session, type Pop3Hooks, type Pop3Response } from './protocol/session.js';

export interface Pop3ServerOptions {
  serverName: string;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  maxCommandLineBytes: number;
  idleTimeoutMs: number;
  /** A command line must be complete this long after its first byte. */
  commandDeadlineMs: number;
  /** Deadline for the PROXY header and the TLS handshake (implicit TLS and STLS). */
  tlsHandshakeTimeoutMs: number;
  maxAuthFailures: number;
  allowPlaintextAuth: boolean;
  tls: TlsMaterial | undefined;
  events: Pop3Events;
  /** PROXY protocol from load balancers: whether to expect it, and from which peers. */
  proxyProtocol: boolean;
  isTrustedProxy: (address: string) => boolean;
}

const MAX_PENDING_INPUT = 64 * 1024;
/** Why a connection over a limit is turned away (RFC 2449 §8.1.2: [SYS/TEMP]). */
const REFUSALS: Record<ConnectionRefusal, string> = {
  total: 'Too many connections',
  'per-address': 'Too many connections from your address',
  reserved: 'Server busy: the last connections are kept for other clients',
};
/** Responses queued to a client that does not read; past this the connection is dropped. */
const MAX_UNREAD_OUTPUT = 1024 * 1024;
/** Multi-line responses are written in pieces of about this size. */
const COALESCE_BYTES = 64 * 1024;

class Pop3Connection {
  private readonly lines: LineReader;
  /** A client that takes too long over one command line (a byte now and then) is logged out. */
  private readonly lineDeadline = new InputDeadline(() => {
    this.options.events.emit({ event: 'slow-client-dropped', client: this.client });
    this.finish({ ok: false, text: 'Autologout: command too slow', close: true });
  });
  private overLongDropsSeen = 0;
  private busy = false;
  private closed = false;
  private upgrading = false;
  /** The client sent FIN: answer what it sent, then close our side. */
  private peerEnded = false;

  constructor(
    private socket: Socket,
    private readonly session: Pop3Session,
    private readonly options: Pop3ServerOptions,
    private readonly logger: Logger,
    private readonly client: string,
  ) {
    this.lines = new LineReader(options.maxCommandLineBytes);
  }

  start(): void {
    this.socket.on('close', () => {
      this.closed = true;
      this.lineDeadline.clear();
      this.session.abandon().catch((err: unknown) => this.options.events.emit({ event: 'maildrop-release-failed', client: this.client, error: (err as Error).message }));
    });
    this.attach(this.socket);
    void this.write(this.session.greeting());
  }

  private attach(socket: Socket): void {
    socket.setTimeout(this.options.idleTimeoutMs);
    // Autologout: close without entering UPDATE, so nothing is deleted (RFC 1939 §3).
    socket.on('timeout', () => this.finish({ ok: false, text: 'Autologout: idle too long', close: true }));
    socket.on('data', (chunk: Buffer) => {
      if (this.closed || this.upgrading) return;
      this.lines.push(chunk);
      if (this.lines.buffered > MAX_PENDING_INPUT) this.socket.pause();
      void this.pump();
    });
    socket.on('error', (err) => this.logger.debug({ err: err.message }, 'socket error'));
    socket.once('end', () => {
      this.peerEnded = true;
      void this.pump();
    });
    socket.resume(); // it may have been paused while a PROXY header was read
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (!this.closed && !this.upgrading) {
        const next = this.lines.next();
        if (!next) break;
        this.lineDeadline.clear();
        if ('tooLong' in next) {
          await this.write({ ok: false, text: 'Line too long' });
          continue;
        }
        const response = await this.session.command(next.line);
        await this.write(response);
        if (response.startTls) this.startTls();
        else if (response.close) this.finish();
      }
    } catch (err) {
      this.options.events.emit({ event: 'session-failed', client: this.client, error: err instanceof Error ? err.message : String(err) });
      this.finish({ ok: false, text: 'Internal error, closing connection', close: true });
    } finally {
      this.busy = false;
    }
    if (this.socket.isPaused() && this.lines.buffered <= MAX_PENDING_INPUT && !this.upgrading) this.socket.resume();
    // What is left is the start of a command line: from now on the client has commandDeadlineMs to finish it
    // (an over-long line being dropped earns a new deadline with every maxCommandLineBytes that arrive).
    if (this.lines.overLongDrops !== this.overLongDropsSeen) {
      this.overLongDropsSeen = this.lines.overLongDrops;
      this.lineDeadline.clear();
    }
    if (!this.closed && !this.upgrading && this.lines.midLine) this.lineDeadline.arm(this.options.commandDeadlineMs);
    if (this.peerEnded && !this.busy && !this.closed) {
      // Everything complete that the client sent before its FIN has been answered (an unfinished DATA is dropped).
      this.closed = true;
      this.socket.end();
    }
  }

  private async write(response: Pop3Response): Promise<void> {
    if (this.closed) return;
    const status = response.continuation ? `+ ${response.text}\r\n` : `${response.ok ? '+OK' : '-ERR'}${response.text ? ` ${response.text}` : ''}\r\n`;
    if (!response.body) {
      this.send(Buffer.from(status));
      return;
    }
    // The status line and the body go out in as few writes as they fit in (Nagle is off: each write is
    // a segment), waiting for the client to read whenever the socket's buffer is full.
    let pending: Buffer[] = [Buffer.from(status)];
    let pendingBytes = pending[0]!.length;
    for await (const piece of dotStuff(response.body)) {
      if (this.closed) return;
      pending.push(piece);
      pendingBytes += piece.length;
      if (pendingBytes < COALESCE_BYTES) continue;
      const flushed = this.send(Buffer.concat(pending, pendingBytes));
      pending = [];
      pendingBytes = 0;
      if (!flushed && !this.closed) await drained(this.socket);
    }
    if (pendingBytes > 0) this.send(Buffer.concat(pending, pendingBytes));
  }

  /** Writes; false when the socket's buffer is full (wait for drained(socket)). */
  private send(data: Buffer): boolean {
    if (this.closed) return true;
    const flushed = this.socket.write(data);
    if (this.socket.writableLength > MAX_UNREAD_OUTPUT) {
      this.options.events.emit({ event: 'slow-reader-dropped', client: this.client });
      this.closed = true;
      this.socket.destroy();
    }
    return flushed;
  }

  /** RFC 2595 §4 (and the lesson of CVE-2011-0411): input sent before the handshake is thrown away. */
  private startTls(): void {
    this.upgrading = true;
    this.lines.clear();
    this.lineDeadline.clear();
    upgradeToTls(this.socket, this.options.tls!, this.options.tlsHandshakeTimeoutMs, {
      secure: (secure) => {
        this.socket = secure;
        this.session.tlsStarted();
        this.upgrading = false;
        this.attach(secure);
      },
      failed: (err) => {
        this.options.events.emit({ event: 'tls-handshake-failed', client: this.client, error: err.message });
        this.closed = true;
      },
    });
  }

  private finish(last?: Pop3Response): void {
    if (last) void this.write(last);
    this.closed = true;
    this.socket.end();
    this.socket.setTimeout(10_000, () => this.socket.destroy());
  }
}

export interface Pop3Server {
  server: Server;
  close(): Promise<void>;
}

export function createPop3Server(
  options: Pop3ServerOptions,
  hooks: Pop3Hooks,
  logger: Logger,
  listener: { implicitTls: boolean; connections: ConnectionLimits } = {
    implicitTls: false,
    connections: new ConnectionLimits(options.maxConnections, options.maxConnectionsPerAddress),
  },
): Pop3Server {
  const sockets = new Set<Socket>();
  const tls = options.tls;
  if (listener.implicitTls && !tls) throw new Error('the POP3S listener needs a TLS certificate (TLS_CERT_FILE, TLS_KEY_FILE)');
  const onConnection = (raw: Socket) => {
    raw.on('error', () => undefined);
    // Responses are whole when written: Nagle's wait for an ACK (delayed by the client) only adds latency.
    raw.setNoDelay(true);
    void acceptConnection(raw, {
      proxyProtocol: options.proxyProtocol,
      isTrustedProxy: options.isTrustedProxy,
      implicitTls: listener.implicitTls ? tls : undefined,
      handshakeTimeoutMs: options.tlsHandshakeTimeoutMs,
      connections: listener.connections,
      refusal: (limit) => `-ERR [SYS/TEMP] ${REFUSALS[limit]}, try again later\r\n`,
    }).then((accepted) => {
      if (accepted) startSession(accepted.socket, accepted.clientAddress);
    });
  };
  const startSession = (socket: Socket, clientAddress: string) => {
    socket.on('error', () => undefined);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const session = new Pop3Session(
      { serverName: options.serverName, clientAddress, tlsAvailable: Boolean(tls), secure: listener.implicitTls, allowPlaintextAuth: options.allowPlaintextAuth },
      hooks,
      options,
    );
    new Pop3Connection(socket, session, options, logger.child({ client: clientAddress, tls: listener.implicitTls }), clientAddress).start();
  };
  // Implicit TLS is negotiated per connection (after any PROXY header), with the current certificate.
  // Half-open: a client may send its last commands and FIN at once; they are still answered.
  const server: Server = createTcpServer({ allowHalfOpen: true }, onConnection);
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.end('-ERR [SYS/TEMP] Server shutting down\r\n');
      }),
  };
}
