// The TCP side of smtp-ingress: SMTP wired onto a line connection (@mail/wire), which hands command lines
// and, after DATA or BDAT, the message's bytes to the session (which owns the DATA reader), writes its
// replies and keeps the connection-level rules (timeouts, limits, STARTTLS); the listener accepts (PROXY
// header, implicit TLS on the SMTPS port, the connection table) and drains at shutdown.
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { acceptConnection, LineConnection, LiveConnections, type AfterReply, type ConnectionEvent, type ConnectionLimits, type LineProtocol, type TlsMaterial } from '@mail/wire';
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

/** SMTP as a line protocol: the session's replies in RFC 5321 form, DATA and BDAT as data, 421 to go. */
class SmtpLineProtocol implements LineProtocol<Reply> {
  constructor(
    private readonly session: SmtpSession,
    private readonly maxCommandLineBytes: number,
    private readonly events: IngressEvents,
    private readonly logger: Logger,
    private readonly where: { client: string; listener: string },
  ) {}

  get data(): SmtpSession {
    return this.session;
  }

  greeting(): Reply {
    return this.session.greeting();
  }

  command(line: string): Promise<Reply | undefined> {
    return this.session.command(line);
  }

  lineTooLong(): Reply {
    return this.session.lineTooLong(this.maxCommandLineBytes);
  }

  failed(): Reply {
    return { ...Replies.notQueued(), close: true };
  }

  idle(): Reply {
    return Replies.timeout();
  }

  tooSlow(): Reply {
    return Replies.timeout();
  }

  shuttingDown(): Reply {
    return Replies.shuttingDown();
  }

  /** A transaction in flight is finished first: its 250 means the message is queued. */
  get atRest(): boolean {
    return !this.session.inTransaction;
  }

  /** Every reply passes here, so each refusal is counted as it is given. */
  encode(reply: Reply): string {
    if (reply.reason) this.events.emit({ event: 'refused', reason: reply.reason, reply: `${reply.code} ${reply.status ?? ''}`.trim(), ...this.where });
    return formatReply(reply);
  }

  after(reply: Reply): AfterReply {
    return reply.startTls ? 'start-tls' : reply.quit ? 'hang-up' : reply.close ? 'close' : 'continue';
  }

  tlsStarted(): void {
    this.session.tlsStarted();
  }

  ended(): void {
    this.session.ended();
  }

  report(event: ConnectionEvent): void {
    if (event.event === 'socket-error') this.logger.debug({ err: event.error }, 'socket error');
    else this.events.emit({ ...event, ...this.where });
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
  const connections = new LiveConnections();
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
    smtpMetrics.connections.inc();
    smtpMetrics.sessionsActive.inc();
    socket.on('close', () => smtpMetrics.sessionsActive.dec());
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
    const where = { client: clientAddress, listener: profile.name };
    const protocol = new SmtpLineProtocol(session, options.maxCommandLineBytes, options.events, logger.child(where), where);
    const connection = new LineConnection(socket, protocol, {
      maxLineBytes: options.maxCommandLineBytes,
      idleTimeoutMs: options.commandTimeoutMs,
      commandDeadlineMs: options.commandDeadlineMs,
      tls,
      tlsHandshakeTimeoutMs: options.tlsHandshakeTimeoutMs,
      dataIdleTimeoutMs: options.dataTimeoutMs,
      minDataRate: options.minDataRate,
    });
    connections.add(connection);
    connection.start();
  };
  // Implicit TLS is negotiated per connection (after any PROXY header), with the current certificate.
  // Half-open: a client may send its last commands and FIN at once; they are still answered.
  const server: Server = createTcpServer({ allowHalfOpen: true }, onConnection);
  return {
    server,
    close: async (graceMs = 20_000) => {
      draining = true;
      await connections.drain(graceMs);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
