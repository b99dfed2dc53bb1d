// A small scripted SMTP server for delivery tests: plays a remote MX with the replies a test asks
// for (per command, per recipient, per attempt) and records what it was sent. It is deliberately
// separate from smtp-ingress, so it checks our client against an independent counterpart.
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { listen } from '@mail/platform';

export interface ReceivedTransaction {
  sender: string;
  recipients: string[];
  data: Buffer;
  /** The parameters after MAIL FROM:<...> (SIZE, BODY, RET, ENVID, ...), as sent. */
  ehloParameters: string;
  /** The parameters after each accepted RCPT TO:<...> (NOTIFY, ORCPT, ...), in the order of `recipients`. */
  recipientParameters: string[];
  /** How the message came: DATA, or BDAT chunks (RFC 3030; offered when the script lists CHUNKING). */
  via: 'DATA' | 'BDAT';
  /** The transaction ran under STARTTLS. */
  tls: boolean;
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
  /** Offer STARTTLS with this certificate (RFC 3207). */
  tls?: { certFile: string; keyFile: string };
  /** Extensions after STARTTLS (default: `extensions`), e.g. with REQUIRETLS. */
  extensionsAfterTls?: string[];
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
    let stream: Socket = socket;
    let secured = false;
    const send = (line: string) => {
      if (!stream.destroyed) stream.write(`${line}\r\n`);
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
    /** A BDAT chunk being read (RFC 3030): octets still to come, and the message's chunks so far. */
    let chunk: { remaining: number; last: boolean } | undefined;
    let chunks: Buffer[] = [];
    /** The end of a message (DATA or BDAT LAST): the scripted reply, and the transaction recorded on 2xx. */
    const finish = (data: Buffer, how: 'DATA' | 'BDAT') => {
      this.dataAttempts++;
      const reply = this.script.data?.(this.dataAttempts) ?? '250 2.0.0 accepted';
      const transaction = { sender, recipients, data, ehloParameters: ehlo, recipientParameters, via: how, tls: secured };
      const answer = () => {
        if (reply.startsWith('2')) this.transactions.push(transaction);
        write(reply);
      };
      if (this.script.dataDelayMs) setTimeout(answer, this.script.dataDelayMs);
      else answer();
    };
    const onData = (received: Buffer) => {
      buffer = Buffer.concat([buffer, received]);
      for (;;) {
        if (chunk) {
          const take = Math.min(chunk.remaining, buffer.length);
          chunks.push(buffer.subarray(0, take));
          buffer = buffer.subarray(take);
          chunk.remaining -= take;
          if (chunk.remaining > 0) return;
          const { last } = chunk;
          chunk = undefined;
          if (recipients.length === 0) write('554 5.5.1 no valid recipients');
          else if (!last) write('250 2.0.0 chunk ok');
          else {
            finish(Buffer.concat(chunks), 'BDAT');
            chunks = [];
          }
          continue;
        }
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          const atStart = buffer.subarray(0, 3).equals(Buffer.from('.\r\n'));
          if (end < 0 && !atStart) return;
          const raw = atStart ? Buffer.alloc(0) : buffer.subarray(0, end + 2);
          buffer = buffer.subarray(atStart ? 3 : end + 5);
          inData = false;
          finish(Buffer.from(raw.toString('latin1').replace(/^\.\./gm, '.'), 'latin1'), 'DATA');
          continue;
        }
        const lf = buffer.indexOf('\n');
        if (lf < 0) return;
        const line = buffer.subarray(0, lf).toString('utf8').replace(/\r$/, '');
        buffer = buffer.subarray(lf + 1);
        const verb = line.split(' ')[0]!.toUpperCase();
        if (verb === 'STARTTLS' && this.script.tls && !secured) {
          send('220 2.0.0 ready to start TLS');
          socket.off('data', onData);
          buffer = Buffer.alloc(0);
          secured = true;
          const secure = new TLSSocket(socket, { isServer: true, cert: readFileSync(this.script.tls.certFile), key: readFileSync(this.script.tls.keyFile) });
          secure.on('error', () => undefined);
          secure.on('data', onData);
          stream = secure;
          return;
        }
        if (verb === 'EHLO') {
          const plain = this.script.extensions ?? ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'SIZE 10000000'];
          const extensions = secured ? (this.script.extensionsAfterTls ?? plain) : [...plain, ...(this.script.tls ? ['STARTTLS'] : [])];
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
        } else if (verb === 'BDAT' && /^BDAT \d+( LAST)?$/i.test(line)) {
          const [, size, last] = line.split(' ');
          chunk = { remaining: Number(size), last: last !== undefined };
        } else if (verb === 'RSET' || verb === 'NOOP') write('250 2.0.0 ok');
        else if (verb === 'QUIT') {
          write('221 2.0.0 bye');
          setTimeout(() => stream.end(), this.script.replyDelayMs ?? 0);
        } else write('502 5.5.1 not implemented');
      }
    };
    socket.on('data', onData);
  }
}
