// The TCP side of smtp-ingress: moves bytes, as command lines or as DATA, into the session (which owns the
// DATA reader), writes replies, negotiates TLS (STARTTLS, or implicit on the SMTPS port), and enforces the
// connection-level limits (line length, timeouts); the connection table is taken at accept (@mail/platform).
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { acceptConnection, InputDeadline, LineReader, upgradeToTls, type ConnectionLimits, type TlsMaterial } from '@mail/wire';
import { formatReply, Replies, type Reply } from './protocol/replies.js';
import { SmtpSession, type SessionHooks, type SessionLimits } from './protocol/session.js';
import type { AuthPolicy } from './auth/policy.js';
import type { IngressEvents } from './events.js';
import { smtpMetrics } from './metrics.js';

export interface SmtpServerOptions extends SessionLimits {
  serverName: string;
  /** Whether a client address may relay without authenticating. */
  isTrustedNetwork: (address: string) => boolean;
  /** PROXY protocol from load balancers: whether to expect it, and from which peers. */
  proxyProtocol: boolean;
  isTrustedProxy: (address: string) => boolean;
  maxCommandLineBytes: number;
  commandTimeoutMs: number;
  dataTimeoutMs: number;
  /** A command line must be complete this long after its first byte. */
  commandDeadlineMs: number;
  /** Average bytes per second a DATA section must keep up after its first dataTimeoutMs; 0 = no DATA deadline. */
  minDataRate: number;
  /** Deadline for the PROXY header and the TLS handshake (implicit TLS and STARTTLS). */
  tlsHandshakeTimeoutMs: number;
  allowPlaintextAuth: boolean;
  enforceSenderOwnership: boolean;
  tls: TlsMaterial | undefined;
  connections: ConnectionLimits;
  events: IngressEvents;
  maxConnectionsPerAddress: number;
  /** The authserv-id of our Authentication-Results header (RFC 8601). */
  authservId: string;
  /** What a failed DMARC check leads to; undefined: accept and mark. */
  authPolicy?: AuthPolicy;
}

/** What one listener offers: port 25 (MX), 587 (submission, STARTTLS then AUTH), 465 (implicit TLS). */
export interface ListenerProfile {
  name: 'smtp' | 'submission' | 'smtps';
  implicitTls: boolean;
  auth: boolean;
  /** MAIL needs AUTH first (submission). */
  authRequired: boolean;
}

/** Pipelined input held while a command is being answered; past this the socket is paused. */
const MAX_PENDING_INPUT = 64 * 1024;
/** Replies queued to a client that does not read; past this the connection is dropped. */
const MAX_UNREAD_OUTPUT = 1024 * 1024;

class SmtpConnection {
  private readonly lines: LineReader;
  /** Slow clients: a command line that takes too long from its first byte, a DATA section that falls behind the minimum rate. */
  private readonly lineDeadline = new InputDeadline(() => this.tooSlow('command'));
  private readonly dataDeadline = new InputDeadline(() => this.tooSlow('data'));
  private overLongDropsSeen = 0;
  private busy = false;
  private closed = false;
  private upgrading = false;
  /** The client sent FIN: answer what it sent, then close our side. */
  private peerEnded = false;
  /** Shutting down: finish the transaction in flight, then say 421 and close. */
  private draining = false;

  onClose: (() => void) | undefined;

  constructor(
    private socket: Socket,
    private readonly session: SmtpSession,
    private readonly options: SmtpServerOptions,
    private readonly logger: Logger,
    private readonly where: { client: string; listener: string },
  ) {
    this.lines = new LineReader(options.maxCommandLineBytes);
  }

  /** Graceful shutdown: an idle session is told 421 now; one in a transaction gets to finish it first. */
  drain(): void {
    this.draining = true;
    if (!this.busy && !this.session.readingData && !this.session.inTransaction) this.send(Replies.shuttingDown());
  }


  start(): void {
    this.socket.on('close', () => {
      this.closed = true;
      this.lineDeadline.clear();
      this.dataDeadline.clear();
      this.session.ended();
    });
    this.socket.on('close', () => this.onClose?.());
    this.attach(this.socket);
    this.send(this.session.greeting());
  }

  private attach(socket: Socket): void {
    socket.setTimeout(this.session.readingData ? this.options.dataTimeoutMs : this.options.commandTimeoutMs);
    socket.on('timeout', () => this.send(Replies.timeout()));
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.logger.debug({ err: err.message }, 'socket error'));
    socket.once('end', () => {
      this.peerEnded = true;
      void this.pump();
    });
    socket.resume(); // it may have been paused while a PROXY header was read
  }

  private receive(chunk: Buffer): void {
    if (this.closed || this.upgrading) return;
    this.lines.push(chunk);
    if (this.lines.buffered > MAX_PENDING_INPUT && !this.session.readingData) this.socket.pause();
    void this.pump();
  }

  /** Processes buffered input strictly in order, one command at a time (RFC 2920 §3.1). */
  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (!this.closed && !this.upgrading) {
        if (this.session.readingData) {
          if (this.lines.buffered === 0) break;
          const input = this.lines.takeAll();
          const used = this.session.pushData(input);
          if (this.options.minDataRate > 0) this.dataDeadline.extend(((used < 0 ? input.length : used) * 1000) / this.options.minDataRate);
          const behind = this.session.whenStored();
          if (behind) {
            // The spool is behind: stop reading (TCP holds the client back) until it catches up; the
            // wait is ours, so it does not count against the client's data rate.
            const waitStarted = Date.now();
            this.socket.pause();
            await behind;
            if (this.options.minDataRate > 0) this.dataDeadline.extend(Date.now() - waitStarted);
            if (!this.closed) this.socket.resume();
          }
          if (used < 0) break;
          this.lines.giveBack(input.subarray(used)); // pipelined commands after the terminator
          this.dataDeadline.clear();
          this.socket.setTimeout(this.options.commandTimeoutMs);
          this.send(await this.session.finishData());
          if (this.draining) this.send(Replies.shuttingDown());
          continue;
        }
        const next = this.lines.next();
        if (!next) break;
        this.lineDeadline.clear();
        if ('tooLong' in next) {
          this.send(this.session.lineTooLong(this.options.maxCommandLineBytes));
          continue;
        }
        const reply = await this.session.command(next.line);
        if (reply) this.send(reply); // none yet after BDAT: its chunk is read first
        if (this.draining && !this.session.inTransaction && this.session.state !== 'Data') this.send(Replies.shuttingDown());
        if (this.session.readingData) {
          this.socket.setTimeout(this.options.dataTimeoutMs);
          if (this.options.minDataRate > 0) this.dataDeadline.arm(this.options.dataTimeoutMs);
        }
      }
    } catch (err) {
      this.options.events.emit({ event: 'session-failed', error: err instanceof Error ? err.message : String(err), ...this.where });
      this.send({ ...Replies.notQueued(), close: true });
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
    if (!this.closed && !this.upgrading && !this.session.readingData && this.lines.midLine) this.lineDeadline.arm(this.options.commandDeadlineMs);
    if (this.peerEnded && !this.busy && !this.closed) {
      // Everything complete that the client sent before its FIN has been answered (an unfinished DATA is dropped).
      this.closed = true;
      this.socket.end();
    }
  }

  private tooSlow(phase: 'command' | 'data'): void {
    this.options.events.emit({ event: 'slow-client-dropped', phase, ...this.where });
    this.send(Replies.timeout());
  }

  send(reply: Reply): void {
    if (reply.reason) this.options.events.emit({ event: 'refused', reason: reply.reason, reply: `${reply.code} ${reply.status ?? ''}`.trim(), ...this.where });
    if (this.closed || !this.socket.writable) return;
    this.socket.write(formatReply(reply));
    if (reply.startTls) this.startTls();
    else if (reply.close) {
      this.closed = true;
      this.socket.end();
      this.socket.setTimeout(10_000, () => this.socket.destroy());
    } else if (this.socket.writableLength > MAX_UNREAD_OUTPUT) {
      this.options.events.emit({ event: 'slow-reader-dropped', ...this.where });
      this.closed = true;
      this.socket.destroy();
    }
  }

  /**
   * RFC 3207 §4.2 and CVE-2011-0411: whatever the client sent after STARTTLS and before the handshake
   * is thrown away, and the session starts over once TLS is up.
   */
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
        secure.on('close', () => (this.closed = true));
      },
      failed: (err) => {
        this.options.events.emit({ event: 'tls-handshake-failed', error: err.message, ...this.where });
        this.closed = true;
      },
    });
  }

}

export interface SmtpServer {
  server: Server;
  /**
   * Graceful shutdown: new connections are answered 421, idle sessions get 421 at once, sessions in a
   * transaction finish it (its 250 means the message is queued) and then get 421; after `graceMs`
   * whatever is left is cut. Resolves when the listener is closed.
   */
  close(graceMs?: number): Promise<void>;
}

export function createSmtpServer(options: SmtpServerOptions, profile: ListenerProfile, hooks: SessionHooks, logger: Logger): SmtpServer {
  const sockets = new Set<Socket>();
  const connections = new Set<SmtpConnection>();
  let draining = false;
  const tls = options.tls;
  if (profile.implicitTls && !tls) throw new Error(`the ${profile.name} listener needs a TLS certificate (TLS_CERT_FILE, TLS_KEY_FILE)`);
  const onConnection = (raw: Socket) => {
    raw.setNoDelay(true);
    raw.on('error', () => undefined);
    if (draining) {
      raw.end(formatReply(Replies.shuttingDown()));
      return;
    }
    void acceptConnection(raw, {
      proxyProtocol: options.proxyProtocol,
      isTrustedProxy: options.isTrustedProxy,
      implicitTls: profile.implicitTls ? tls : undefined,
      handshakeTimeoutMs: options.tlsHandshakeTimeoutMs,
      connections: options.connections,
      refusal: (limit) =>
        formatReply(
          limit === 'total' ? Replies.tooManyConnections() : limit === 'reserved' ? Replies.busyForYourAddress() : Replies.tooManyConnectionsFromAddress(options.maxConnectionsPerAddress),
        ),
    }).then((accepted) => {
      if (accepted) startSession(accepted.socket, accepted.clientAddress);
    });
  };
  const startSession = (socket: Socket, clientAddress: string) => {
    socket.on('error', () => undefined);
    sockets.add(socket);
    smtpMetrics.connections.inc();
    smtpMetrics.sessionsActive.inc();
    socket.on('close', () => {
      sockets.delete(socket);
      smtpMetrics.sessionsActive.dec();
    });
    const session = new SmtpSession(
      {
        serverName: options.serverName,
        clientAddress,
        trustedNetwork: options.isTrustedNetwork(clientAddress),
        secure: profile.implicitTls,
        tlsAvailable: Boolean(tls),
        authAvailable: profile.auth,
        authRequired: profile.authRequired,
        allowPlaintextAuth: options.allowPlaintextAuth,
        enforceSenderOwnership: options.enforceSenderOwnership,
        authservId: options.authservId,
        authPolicy: options.authPolicy,
      },
      options,
      hooks,
    );
    const connection = new SmtpConnection(socket, session, options, logger.child({ client: clientAddress, listener: profile.name }), {
      client: clientAddress,
      listener: profile.name,
    });
    connections.add(connection);
    connection.onClose = () => connections.delete(connection);
    connection.start();
  };
  // Implicit TLS is negotiated per connection (after any PROXY header), with the current certificate.
  // Half-open: a client may send its last commands and FIN at once; they are still answered.
  const server: Server = createTcpServer({ allowHalfOpen: true }, onConnection);
  return {
    server,
    close: async (graceMs = 20_000) => {
      draining = true;
      for (const connection of connections) connection.drain();
      const deadline = Date.now() + graceMs;
      while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
