// The TCP side of pop3-access: command lines in, responses out, multi-line bodies streamed with
// byte-stuffing; connection limits, line length and the autologout timer.
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { dotStuff } from './protocol/multiline.js';
import { Pop3Session, type Pop3Hooks, type Pop3Response } from './protocol/session.js';

export interface Pop3ServerOptions {
  serverName: string;
  maxConnections: number;
  maxCommandLineBytes: number;
  idleTimeoutMs: number;
  maxAuthFailures: number;
}

const MAX_PENDING_INPUT = 64 * 1024;

class Pop3Connection {
  private pending: Buffer = Buffer.alloc(0);
  private busy = false;
  private closed = false;
  private discardingLongLine = false;

  constructor(
    private readonly socket: Socket,
    private readonly session: Pop3Session,
    private readonly options: Pop3ServerOptions,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.socket.setTimeout(this.options.idleTimeoutMs);
    // Autologout: close without entering UPDATE, so nothing is deleted (RFC 1939 §3).
    this.socket.on('timeout', () => this.finish({ ok: false, text: 'Autologout: idle too long', close: true }));
    this.socket.on('data', (chunk: Buffer) => {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      if (this.pending.length > MAX_PENDING_INPUT) this.socket.pause();
      void this.pump();
    });
    this.socket.on('error', (err) => this.logger.debug({ err: err.message }, 'socket error'));
    this.socket.on('close', () => {
      this.closed = true;
      this.session.abandon().catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'releasing maildrop failed'));
    });
    void this.write(this.session.greeting());
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (!this.closed) {
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
          await this.write({ ok: false, text: 'Line too long' });
          continue;
        }
        const response = await this.session.command(raw.toString('utf8').replace(/\r$/, ''));
        await this.write(response);
        if (response.close) this.finish();
      }
    } catch (err) {
      this.logger.error({ err }, 'session failed');
      this.finish({ ok: false, text: 'Internal error, closing connection', close: true });
    } finally {
      this.busy = false;
    }
    if (this.socket.isPaused() && this.pending.length <= MAX_PENDING_INPUT) this.socket.resume();
  }

  private async write(response: Pop3Response): Promise<void> {
    if (this.closed) return;
    const status = `${response.ok ? '+OK' : '-ERR'}${response.text ? ` ${response.text}` : ''}\r\n`;
    this.socket.write(status);
    if (!response.body) return;
    for await (const piece of dotStuff(response.body)) {
      if (this.closed) return;
      if (!this.socket.write(piece)) await new Promise((resolve) => this.socket.once('drain', resolve));
    }
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

export function createPop3Server(options: Pop3ServerOptions, hooks: Pop3Hooks, logger: Logger): Pop3Server {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    if (sockets.size >= options.maxConnections) {
      socket.end('-ERR [SYS/TEMP] Too many connections, try again later\r\n');
      socket.on('error', () => undefined);
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const session = new Pop3Session(options.serverName, hooks, options);
    new Pop3Connection(socket, session, options, logger.child({ client: socket.remoteAddress })).start();
  });
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.end('-ERR [SYS/TEMP] Server shutting down\r\n');
      }),
  };
}
