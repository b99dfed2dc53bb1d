// The TCP side of smtp-ingress: splits the byte stream into command lines or DATA, feeds the session,
// writes replies, and enforces the connection-level limits (connections, line length, timeouts).
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { DataReader } from './protocol/data-reader.js';
import { formatReply, Replies, type Reply } from './protocol/replies.js';
import { SmtpSession, type SessionHooks, type SessionLimits } from './protocol/session.js';

export interface SmtpServerOptions extends SessionLimits {
  serverName: string;
  /** Whether a client address may relay without authenticating. */
  isTrustedNetwork: (address: string) => boolean;
  maxCommandLineBytes: number;
  maxConnections: number;
  commandTimeoutMs: number;
  dataTimeoutMs: number;
}

/** Pipelined input held while a command is being answered; past this the socket is paused. */
const MAX_PENDING_INPUT = 64 * 1024;
/** Replies queued to a client that does not read; past this the connection is dropped. */
const MAX_UNREAD_OUTPUT = 1024 * 1024;

class SmtpConnection {
  private pending: Buffer = Buffer.alloc(0);
  private dataReader: DataReader | undefined;
  private discardingLongLine = false;
  private busy = false;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly session: SmtpSession,
    private readonly options: SmtpServerOptions,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.socket.setTimeout(this.options.commandTimeoutMs);
    this.socket.on('timeout', () => this.send(Replies.timeout()));
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('error', (err) => this.logger.debug({ err: err.message }, 'socket error'));
    this.socket.on('close', () => (this.closed = true));
    this.send(this.session.greeting());
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    if (this.pending.length > MAX_PENDING_INPUT && !this.dataReader) this.socket.pause();
    void this.pump();
  }

  /** Processes buffered input strictly in order, one command at a time (RFC 2920 §3.1). */
  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (!this.closed) {
        if (this.dataReader) {
          if (this.pending.length === 0) break;
          const used = this.dataReader.push(this.pending);
          if (used < 0) {
            this.pending = Buffer.alloc(0);
            break;
          }
          this.pending = this.pending.subarray(used);
          const result = this.dataReader.result();
          this.dataReader = undefined;
          this.socket.setTimeout(this.options.commandTimeoutMs);
          this.send(await this.session.finishData(result));
          continue;
        }
        const lf = this.pending.indexOf(0x0a);
        if (lf < 0) {
          if (this.pending.length > this.options.maxCommandLineBytes) {
            this.discardingLongLine = true;
            this.pending = Buffer.alloc(0);
          }
          break;
        }
        const raw = this.pending.subarray(0, lf);
        this.pending = this.pending.subarray(lf + 1);
        if (this.discardingLongLine || raw.length + 1 > this.options.maxCommandLineBytes) {
          this.discardingLongLine = false;
          this.send(this.session.lineTooLong(this.options.maxCommandLineBytes));
          continue;
        }
        const line = raw.toString('utf8').replace(/\r$/, '');
        const reply = await this.session.command(line);
        this.send(reply);
        if (this.session.state === 'Data') {
          this.dataReader = new DataReader(this.options.maxMessageBytes, this.options.bareLineEndings);
          this.socket.setTimeout(this.options.dataTimeoutMs);
        }
      }
    } catch (err) {
      this.logger.error({ err }, 'session failed');
      this.send({ ...Replies.notQueued(), close: true });
    } finally {
      this.busy = false;
    }
    if (this.socket.isPaused() && this.pending.length <= MAX_PENDING_INPUT) this.socket.resume();
  }

  send(reply: Reply): void {
    if (this.closed || !this.socket.writable) return;
    this.socket.write(formatReply(reply));
    if (reply.close) {
      this.closed = true;
      this.socket.end();
      this.socket.setTimeout(10_000, () => this.socket.destroy());
    } else if (this.socket.writableLength > MAX_UNREAD_OUTPUT) {
      this.logger.warn('client does not read its replies; dropping the connection');
      this.closed = true;
      this.socket.destroy();
    }
  }
}

export interface SmtpServer {
  server: Server;
  connections(): number;
  /** Stops accepting and answers new connections 421 until closed. */
  close(): Promise<void>;
}

export function createSmtpServer(options: SmtpServerOptions, hooks: SessionHooks, logger: Logger): SmtpServer {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    if (sockets.size >= options.maxConnections) {
      socket.end(formatReply(Replies.tooManyConnections()));
      socket.on('error', () => undefined);
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const clientAddress = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const session = new SmtpSession(
      { serverName: options.serverName, clientAddress, trustedNetwork: options.isTrustedNetwork(clientAddress) },
      options,
      hooks,
    );
    new SmtpConnection(socket, session, options, logger.child({ client: clientAddress })).start();
  });
  return {
    server,
    connections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.end(formatReply(Replies.shuttingDown()));
      }),
  };
}
