// Reads SMTP replies (RFC 5321 §4.2: "ddd-text" continuation lines, then "ddd text") from a socket,
// one reply at a time, each with its own deadline.
import type { Socket } from 'node:net';

export interface SmtpReply {
  code: number;
  /** The text of every line, without the code; the first word may be an enhanced status code. */
  lines: string[];
}

export const replyText = (reply: SmtpReply): string => `${reply.code} ${reply.lines.join(' ')}`.trim();

export class ConnectionError extends Error {}

const MAX_REPLY_BYTES = 64 * 1024;

export class ReplyReader {
  private buffer = '';
  private waiter: (() => void) | undefined;
  private ended: Error | undefined;

  constructor(private socket: Socket) {
    this.attach(socket);
  }

  /** Switches to a new socket (after STARTTLS); anything buffered from the old one is discarded. */
  attach(socket: Socket): void {
    this.socket = socket;
    this.buffer = '';
    this.ended = undefined;
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      this.buffer += text;
      if (this.buffer.length > MAX_REPLY_BYTES) this.fail(new ConnectionError('reply longer than 64 KiB'));
      this.wake();
    });
    socket.on('close', () => this.fail(new ConnectionError('connection closed by the server')));
    socket.on('error', (err) => this.fail(new ConnectionError(err.message)));
  }

  private fail(err: Error): void {
    this.ended ??= err;
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  /** The next complete reply; rejects on close, garbage, or when `timeoutMs` passes. */
  async read(timeoutMs: number): Promise<SmtpReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.take();
      if (reply) return reply;
      if (this.ended) throw this.ended;
      const left = deadline - Date.now();
      if (left <= 0) throw new ConnectionError(`no reply within ${Math.round(timeoutMs / 1000)} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private take(): SmtpReply | undefined {
    const lines: string[] = [];
    let offset = 0;
    let code = 0;
    for (;;) {
      const end = this.buffer.indexOf('\n', offset);
      if (end < 0) return undefined;
      const line = this.buffer.slice(offset, end).replace(/\r$/, '');
      offset = end + 1;
      const match = /^(\d{3})([ -]?)(.*)$/.exec(line);
      if (!match) {
        this.fail(new ConnectionError(`malformed reply: ${JSON.stringify(line.slice(0, 100))}`));
        return undefined;
      }
      code = Number(match[1]);
      lines.push(match[3]!);
      if (match[2] !== '-') break;
    }
    this.buffer = this.buffer.slice(offset);
    return { code, lines };
  }
}
