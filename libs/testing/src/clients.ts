// Independent clients for end-to-end tests: Python's smtplib and poplib (through the scripts in
// ../clients), and a raw TCP client for conversations that must be byte-exact.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from './mail-system.js';

const CLIENTS = join(REPO_ROOT, 'libs', 'testing', 'clients');

function runJson<T>(command: string, args: string[], input: unknown, timeoutMs = 120_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout) as T);
    });
    child.stdin!.end(JSON.stringify(input));
  });
}

export interface OutgoingMessage {
  from: string;
  to: string[];
  data: Buffer;
  mailOptions?: string[];
  /** ESMTP parameters for every RCPT of the message (smtplib applies them to each recipient). */
  rcptOptions?: string[];
}

export interface SendResult {
  ok: boolean;
  refused: Record<string, [number, string]>;
  code: number;
  text: string;
}

/** Sends the messages in one SMTP session with Python's smtplib. */
export function smtplibSend(port: number, messages: OutgoingMessage[]): Promise<SendResult[]> {
  return runJson('python3', [join(CLIENTS, 'smtp_send.py')], {
    host: '127.0.0.1',
    port,
    messages: messages.map((m) => ({ from: m.from, to: m.to, data_b64: m.data.toString('base64'), mail_options: m.mailOptions ?? [], rcpt_options: m.rcptOptions ?? [] })),
  });
}

/** A delivery status notification as Python's email package reads it (clients/dsn_parse.py). */
export interface ParsedDsn {
  content_type: string;
  report_type: string | null;
  subject: string;
  /** The content types of the top-level parts. */
  parts: string[];
  /** The human-readable first part, decoded. */
  text: string;
  /** The per-message fields of message/delivery-status, names in lower case. */
  per_message: Record<string, string>;
  /** The per-recipient field blocks. */
  recipients: Record<string, string>[];
  /** The returned part: text/rfc822-headers or message/rfc822, and its text. */
  returned_type: string | null;
  returned: string | null;
}

/** Parses notices with Python's `email` package, a reference parser independent of ours. */
export function pythonParseDsns(messages: Buffer[]): Promise<ParsedDsn[]> {
  return runJson('python3', [join(CLIENTS, 'dsn_parse.py')], { messages: messages.map((m) => m.toString('base64')) });
}

export interface FetchResult {
  stat: [number, number] | null;
  list: [number, number][];
  uidl: [number, string][];
  messages: Buffer[];
  error: string;
}

/** Fetches every message with Python's poplib; optionally DELE each, then QUIT or drop the connection. */
export async function poplibFetch(
  port: number,
  user: string,
  password: string,
  /** `limit`: at most this many messages retrieved (and deleted) in the session, so that what comes back stays bounded. */
  options: { delete?: boolean; end?: 'quit' | 'drop'; limit?: number } = {},
): Promise<FetchResult> {
  const raw = await runJson<Omit<FetchResult, 'messages'> & { messages: string[] }>('python3', [join(CLIENTS, 'pop3_fetch.py')], {
    host: '127.0.0.1',
    port,
    user,
    password,
    ...options,
  });
  return { ...raw, messages: raw.messages.map((m) => Buffer.from(m, 'base64')) };
}

export interface TlsSubmission {
  port: number;
  mode: 'starttls' | 'ssl';
  cafile: string;
  /** Absent: no AUTH (a relay client by its address). */
  user?: string;
  password?: string;
  from: string;
  to: string[];
  data: Buffer;
  /** MAIL FROM parameters, e.g. REQUIRETLS. */
  mailOptions?: string[];
}

/** Submits one message with smtplib over STARTTLS or implicit TLS, verifying the server against `cafile`. */
export function smtplibSubmitTls(request: TlsSubmission): Promise<{ ok: boolean; code: number; error: string; cipher: string; ehlo: string }> {
  return runJson('python3', [join(CLIENTS, 'smtp_tls.py')], { host: '127.0.0.1', ...request, data_b64: request.data.toString('base64'), mail_options: request.mailOptions ?? [] });
}

/** Reads a maildrop with poplib over STLS or implicit TLS, verifying the server against `cafile`. */
export async function poplibFetchTls(request: {
  port: number;
  mode: 'stls' | 'ssl';
  cafile: string;
  user: string;
  password: string;
  delete?: boolean;
}): Promise<{ stat: [number, number] | null; messages: Buffer[]; capa: string[]; error: string }> {
  const raw = await runJson<{ stat: [number, number] | null; messages: string[]; capa: string[]; error: string }>('python3', [join(CLIENTS, 'pop3_tls.py')], {
    host: '127.0.0.1',
    ...request,
  });
  return { ...raw, messages: raw.messages.map((m) => Buffer.from(m, 'base64')) };
}

/** A raw line-oriented TCP conversation, for asserting exact replies. */
export class RawClient {
  private buffer = '';
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(public socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      this.buffer += text;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1' }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Negotiates TLS on the connection (after STARTTLS/STLS); what arrives later is read as before. */
  async upgrade(options: import('node:tls').ConnectionOptions): Promise<import('node:tls').TLSSocket> {
    const { connect: tlsConnect } = await import('node:tls');
    this.socket.removeAllListeners('data');
    const secure = tlsConnect({ ...options, socket: this.socket });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    secure.setEncoding('latin1');
    secure.on('data', (text: string) => {
      this.buffer += text;
      this.wake();
    });
    secure.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.socket = secure;
    return secure;
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Reads one complete SMTP reply (all its lines) or one POP3 status line. */
  async reply(timeoutMs = 10_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const match = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\n|^[+-](?:OK|ERR)[^\n]*\n/.exec(this.buffer);
      if (match) {
        this.buffer = this.buffer.slice(match[0].length);
        return match[0].replace(/\r?\n$/, '');
      }
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buffer)}`);
      if (Date.now() > until) throw new Error(`no reply within ${timeoutMs} ms; unread: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  /** Reads up to and including a line that is exactly ".". */
  async multiline(timeoutMs = 10_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf('\r\n.\r\n');
      if (end >= 0) {
        const body = this.buffer.slice(0, end + 2);
        this.buffer = this.buffer.slice(end + 5);
        return body;
      }
      if (this.closed || Date.now() > until) throw new Error(`no multi-line end; unread: ${JSON.stringify(this.buffer.slice(0, 500))}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  /** Sends a command and returns the reply. */
  async command(line: string): Promise<string> {
    this.send(`${line}\r\n`);
    return this.reply();
  }

  async waitClosed(timeoutMs = 10_000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * One message over plain SMTP on 127.0.0.1:port (MAIL, one RCPT, DATA with `data` ending in CRLF, already
 * dot-stuffed); returns the queue id of the 250 reply.
 */
export async function sendOverSmtp(port: number, envelope: { from: string; to: string }, data: string): Promise<string> {
  const client = await RawClient.connect(port);
  try {
    await client.reply();
    await client.command('EHLO client.test');
    await client.command(`MAIL FROM:<${envelope.from}>`);
    const rcpt = await client.command(`RCPT TO:<${envelope.to}>`);
    if (!rcpt.startsWith('250 ')) throw new Error(`RCPT TO:<${envelope.to}> answered ${rcpt}`);
    await client.command('DATA');
    const queued = await client.command(`${data}.`);
    const queueId = /queued as (\S+)/.exec(queued)?.[1];
    if (!queueId) throw new Error(`DATA answered ${queued}`);
    return queueId;
  } finally {
    client.close();
  }
}

/** dkimpy's Python (scripts/setup.sh --test-tools puts it in .tools/dkimpy), or DKIMPY_PYTHON; undefined when absent. */
export const DKIMPY_PYTHON = [process.env.DKIMPY_PYTHON, join(REPO_ROOT, '.tools', 'dkimpy', 'bin', 'python')].find((path) => path && existsSync(path));

/** Runs clients/dkim_tool.py under dkimpy's Python: the message on stdin, what it prints back. */
function dkimTool(args: string[], message: Buffer): Promise<Buffer> {
  if (!DKIMPY_PYTHON) throw new Error('dkimpy is not installed (scripts/setup.sh --test-tools)');
  return new Promise((resolve, reject) => {
    const child = execFile(DKIMPY_PYTHON, [join(CLIENTS, 'dkim_tool.py'), ...args], { encoding: 'buffer', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      error ? reject(new Error(`dkim_tool.py ${args[0]}: ${error.message}\n${stderr.toString()}`)) : resolve(stdout),
    );
    child.stdin!.end(message);
  });
}

/** Signs with dkimpy (relaxed/relaxed); the key is a PEM file (RSA) or a file holding the base64 Ed25519 seed. */
export const dkimpySign = (message: Buffer, domain: string, selector: string, keyFile: string, algorithm = 'rsa-sha256'): Promise<Buffer> =>
  dkimTool(['sign', domain, selector, keyFile, algorithm], message);

/** Whether every DKIM signature of the message verifies with dkimpy, the key records given (name → TXT) instead of DNS. */
export async function dkimpyVerify(message: Buffer, records: Record<string, string>): Promise<{ ok: boolean; signatures: number }> {
  return JSON.parse((await dkimTool(['verify', ...Object.entries(records).map(([name, txt]) => `${name}=${txt}`)], message)).toString()) as { ok: boolean; signatures: number };
}

export interface ParsedMime {
  content_type: string;
  defects: string[];
  parts: { content_type: string; transfer_encoding: string; payload: Buffer }[];
}

/** Reads a message with Python's email package: its type, defects, and every leaf part decoded. */
export async function pythonMimeParts(message: Buffer): Promise<ParsedMime> {
  const raw = await runJson<Omit<ParsedMime, 'parts'> & { parts: { content_type: string; transfer_encoding: string; payload_b64: string }[] }>(
    'python3',
    [join(CLIENTS, 'mime_parts.py')],
    { message_b64: message.toString('base64') },
  );
  return { ...raw, parts: raw.parts.map(({ payload_b64, ...part }) => ({ ...part, payload: Buffer.from(payload_b64, 'base64') })) };
}
