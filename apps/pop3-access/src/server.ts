// The TCP side of pop3-access: POP3 wired onto a line connection (@mail/wire), which hands command lines
// to the session, streams its multi-line responses with byte-stuffing and keeps the connection-level
// rules (autologout, line length, STLS); the listener accepts (PROXY header, implicit TLS on POP3S, the
// connection table) and drains at shutdown.
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  acceptConnection,
  ConnectionLimits,
  LineConnection,
  LiveConnections,
  type AfterReply,
  type ConnectionEvent,
  type ConnectionRefusal,
  type LineProtocol,
  type TlsMaterial,
  type WireReply,
} from '@mail/wire';
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

/** Why a connection over a limit is turned away (RFC 2449 §8.1.2: [SYS/TEMP]). */
const REFUSALS: Record<ConnectionRefusal, string> = {
  total: 'Too many connections',
  'per-address': 'Too many connections from your address',
  reserved: 'Server busy: the last connections are kept for other clients',
};

/** POP3 as a line protocol: +OK/-ERR status lines, multi-line bodies streamed with byte-stuffing. */
class Pop3LineProtocol implements LineProtocol<Pop3Response> {
  constructor(
    private readonly session: Pop3Session,
    private readonly events: Pop3Events,
    private readonly logger: Logger,
    private readonly client: string,
  ) {}

  greeting(): Pop3Response {
    return this.session.greeting();
  }

  command(line: string): Promise<Pop3Response> {
    return this.session.command(line);
  }

  lineTooLong(): Pop3Response {
    return { ok: false, text: 'Line too long' };
  }

  failed(): Pop3Response {
    return { ok: false, text: 'Internal error, closing connection', close: true };
  }

  /** Autologout: close without entering UPDATE, so nothing is deleted (RFC 1939 §3). */
  idle(): Pop3Response {
    return { ok: false, text: 'Autologout: idle too long', close: true };
  }

  tooSlow(): Pop3Response {
    return { ok: false, text: 'Autologout: command too slow', close: true };
  }

  shuttingDown(): Pop3Response {
    return { ok: false, text: '[SYS/TEMP] Server shutting down', close: true };
  }

  /** Every command is answered whole; a session without QUIT deletes nothing. */
  get atRest(): boolean {
    return true;
  }

  encode(response: Pop3Response): WireReply {
    const status = response.continuation ? `+ ${response.text}\r\n` : `${response.ok ? '+OK' : '-ERR'}${response.text ? ` ${response.text}` : ''}\r\n`;
    return response.body ? multiLine(status, response.body) : Buffer.from(status);
  }

  after(response: Pop3Response): AfterReply {
    return response.startTls ? 'start-tls' : response.quit ? 'hang-up' : response.close ? 'close' : 'continue';
  }

  tlsStarted(): void {
    this.session.tlsStarted();
  }

  ended(): void {
    this.session.abandon().catch((err: unknown) => this.events.emit({ event: 'maildrop-release-failed', client: this.client, error: (err as Error).message }));
  }

  report(event: ConnectionEvent): void {
    if (event.event === 'socket-error') this.logger.debug({ err: event.error }, 'socket error');
    else if (event.event === 'slow-client-dropped') this.events.emit({ event: event.event, client: this.client });
    else this.events.emit({ ...event, client: this.client });
  }
}

/** The status line, then the body byte-stuffed and terminated. */
async function* multiLine(status: string, body: NonNullable<Pop3Response['body']>): AsyncIterable<Uint8Array> {
  yield Buffer.from(status);
  yield* dotStuff(body);
}

export interface Pop3Server {
  server: Server;
  /**
   * Graceful shutdown: no new connections; each session is told -ERR [SYS/TEMP] once its command in
   * hand is answered (a session without QUIT deletes nothing); after `graceMs` whatever is left is cut.
   */
  close(graceMs?: number): Promise<void>;
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
  const connections = new LiveConnections();
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
    const session = new Pop3Session(
      { serverName: options.serverName, clientAddress, tlsAvailable: Boolean(tls), secure: listener.implicitTls, allowPlaintextAuth: options.allowPlaintextAuth },
      hooks,
      options,
    );
    const protocol = new Pop3LineProtocol(session, options.events, logger.child({ client: clientAddress, tls: listener.implicitTls }), clientAddress);
    const connection = new LineConnection(socket, protocol, {
      maxLineBytes: options.maxCommandLineBytes,
      idleTimeoutMs: options.idleTimeoutMs,
      commandDeadlineMs: options.commandDeadlineMs,
      tls,
      tlsHandshakeTimeoutMs: options.tlsHandshakeTimeoutMs,
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
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await connections.drain(graceMs);
      await closed;
    },
  };
}
