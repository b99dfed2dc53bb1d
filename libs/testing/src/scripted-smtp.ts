// A small scripted SMTP server for delivery tests: plays a remote MX with the replies a test asks
// for (per command, per recipient, per attempt) and records what it was sent. It is deliberately
// separate from smtp-ingress, so it checks our client against an independent counterpart.
import { createServer, type Server, type Socket } from 'node:net';
import { listen } from '@mail/platform';

export interface ReceivedTransaction {
  sender: string;
  recipients: string[];
  data: Buffer;
  /** The parameters after MAIL FROM:<...> (SIZE, BODY, RET, ENVID, ...), as sent. */
  ehloParameters: string;
  /** The parameters after each accepted RCPT TO:<...> (NOTIFY, ORCPT, ...), in the order of `recipients`. */
  recipientParameters: string[];
}

export interface Script {
  greeting?: string;
  /** Extensions listed after EHLO (default: PIPELINING, 8BITMIME, SMTPUTF8, SIZE 10000000). */
  extensions?: string[];
  /** Reply to RCPT for this recipient on this attempt (counting from 1); default 250. */
  rcpt?: (recipient: string, attempt: number) => string;
  /** Reply after the data; default 250. */
  data?: (attempt: number) => string;
  /** Wait this long before answering the end of data (a slow server). */
  dataDelayMs?: number;
  /** Wait this long before every reply, the greeting included (a server that answers, slowly). */
  replyDelayMs?: number;
}

export class ScriptedSmtpServer {
  readonly transactions: ReceivedTransaction[] = [];
  readonly rcptAttempts = new Map<string, number>();
  dataAttempts = 0;
  connections = 0;
  /** The most connections that were open at the same time. */
  maxConcurrent = 0;
  port = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly script: Script = {}) {}

  async start(port = 0): Promise<number> {
    this.server = createServer((socket) => this.session(socket));
    this.port = await listen(this.server, port, '127.0.0.1');
    return this.port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private session(socket: Socket): void {
    this.connections++;
    socket.setNoDelay(true); // replies are written line by line, like a real MTA's
    this.sockets.add(socket);
    this.maxConcurrent = Math.max(this.maxConcurrent, this.sockets.size);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const send = (line: string) => {
      if (!socket.destroyed) socket.write(`${line}\r\n`);
    };
    // Timers of equal delay fire in order, so delayed replies keep their order.
    const write = (line: string) => (this.script.replyDelayMs ? setTimeout(() => send(line), this.script.replyDelayMs) : send(line));
    write(this.script.greeting ?? '220 scripted.test ESMTP');
    let buffer = Buffer.alloc(0);
    let inData = false;
    let sender = '';
    let recipients: string[] = [];
    let recipientParameters: string[] = [];
    let ehlo = '';
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          const atStart = buffer.subarray(0, 3).equals(Buffer.from('.\r\n'));
          if (end < 0 && !atStart) return;
          const raw = atStart ? Buffer.alloc(0) : buffer.subarray(0, end + 2);
          buffer = buffer.subarray(atStart ? 3 : end + 5);
          inData = false;
          const data = Buffer.from(raw.toString('latin1').replace(/^\.\./gm, '.'), 'latin1');
          this.dataAttempts++;
          const reply = this.script.data?.(this.dataAttempts) ?? '250 2.0.0 accepted';
          const transaction = { sender, recipients, data, ehloParameters: ehlo, recipientParameters };
          const answer = () => {
            if (reply.startsWith('2')) this.transactions.push(transaction);
            write(reply);
          };
          if (this.script.dataDelayMs) setTimeout(answer, this.script.dataDelayMs);
          else answer();
          continue;
        }
        const lf = buffer.indexOf('\n');
        if (lf < 0) return;
        const line = buffer.subarray(0, lf).toString('utf8').replace(/\r$/, '');
        buffer = buffer.subarray(lf + 1);
        const verb = line.split(' ')[0]!.toUpperCase();
        if (verb === 'EHLO') {
          const extensions = this.script.extensions ?? ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'SIZE 10000000'];
          [`scripted.test hello`, ...extensions].forEach((text, i, all) => write(`250${i === all.length - 1 ? ' ' : '-'}${text}`));
        } else if (verb === 'HELO') write('250 scripted.test');
        else if (verb === 'MAIL') {
          sender = /<([^>]*)>/.exec(line)?.[1] ?? '';
          ehlo = line.slice(line.indexOf('>') + 1).trim();
          recipients = [];
          recipientParameters = [];
          write('250 2.1.0 ok');
        } else if (verb === 'RCPT') {
          const recipient = /<([^>]*)>/.exec(line)?.[1] ?? '';
          const attempt = (this.rcptAttempts.get(recipient) ?? 0) + 1;
          this.rcptAttempts.set(recipient, attempt);
          const reply = this.script.rcpt?.(recipient, attempt) ?? '250 2.1.5 ok';
          if (reply.startsWith('2')) {
            recipients.push(recipient);
            recipientParameters.push(line.slice(line.indexOf('>') + 1).trim());
          }
          write(reply);
        } else if (verb === 'DATA') {
          if (recipients.length === 0) write('554 5.5.1 no valid recipients');
          else {
            inData = true;
            write('354 go ahead');
          }
        } else if (verb === 'RSET' || verb === 'NOOP') write('250 2.0.0 ok');
        else if (verb === 'QUIT') {
          write('221 2.0.0 bye');
          setTimeout(() => socket.end(), this.script.replyDelayMs ?? 0);
        } else write('502 5.5.1 not implemented');
      }
    });
  }
}
