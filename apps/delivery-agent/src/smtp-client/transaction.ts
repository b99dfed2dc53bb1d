// The SMTP client side of one delivery (RFC 5321 §3-§4, RFC 2920 PIPELINING, RFC 3207 STARTTLS,
// RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8, RFC 3030 CHUNKING and BINARYMIME, RFC 3461 DSN,
// RFC 8689 REQUIRETLS): one connection, one transaction carrying all the recipients of a job, and a result
// for each recipient.
import { connect as tcpConnect, type LookupFunction, type Socket } from 'node:net';
import { connect as tlsConnect, rootCertificates, type TLSSocket } from 'node:tls';
import { downgradeTo7bit, encodeBinaryMime } from '@mail/mime';
import type { DsnReturn, RecipientDsn } from '@mail/contracts';
import { dotStuff, encodeXtext, orcptParameter } from '@mail/wire';
import { ConnectionError, ReplyReader, replyText, type SmtpReply } from './reply-reader.js';

export type TlsPolicy = 'none' | 'opportunistic' | 'required';

/** RFC 5321 §4.5.3.2 timeouts, in milliseconds. */
export interface SmtpTimeouts {
  connect: number;
  greeting: number;
  mail: number;
  rcpt: number;
  dataInit: number;
  dataBlock: number;
  dataTerm: number;
}

export const RFC5321_TIMEOUTS: SmtpTimeouts = {
  connect: 30_000,
  greeting: 300_000,
  mail: 300_000,
  rcpt: 300_000,
  dataInit: 120_000,
  dataBlock: 180_000,
  dataTerm: 600_000,
};

export interface TransactionRequest {
  host: string;
  port: number;
  /** Name for certificate checks and logs (the MX name). */
  serverName: string;
  heloName: string;
  sender: string;
  recipients: string[];
  message: Uint8Array;
  smtputf8: boolean;
  /** The message was received as BODY=BINARYMIME: sent so where the server takes it, else made 7-bit. */
  binaryMime?: boolean;
  /** Send the message with BDAT when the server offers CHUNKING (else always DATA). */
  chunking?: boolean;
  tls: TlsPolicy;
  timeouts: SmtpTimeouts;
  /** Extra trusted CA certificates (PEM) beside the system's, for checking the server's certificate. */
  extraCa?: string;
  /** Resolves `host` (the configured resolver); default: the system's. */
  lookup?: LookupFunction;
  /** RFC 8689 REQUIRETLS: sent with MAIL; a server that does not offer it gets nothing (5.7.30). */
  requireTls?: boolean;
  /** Told what TLS the session got (MTA-STS testing mode and TLS-RPT count it). */
  onTls?: (session: TlsSessionReport) => void;
  /** The sender's DSN request (RFC 3461), passed on when the server offers DSN. */
  dsn?: { ret?: DsnReturn; envid?: string; recipients?: readonly RecipientDsn[] };
}

/** `authorizationError`: Node's code for a certificate that would not verify (e.g. ERR_TLS_CERT_ALTNAME_INVALID). */
export type TlsSessionReport = { starttls: false } | { starttls: true; authorized: boolean; authorizationError?: string };

/**
 * How a delivered recipient was handed over: to a server that offers DSN, which took the DSN request
 * with it, or to one without DSN, which cannot report back (so the sender is told "relayed").
 */
export type RemoteHandoff = 'relayed-with-dsn' | 'relayed-without-dsn';

export type RecipientOutcome = { recipient: string; outcome: 'delivered' | 'temporary' | 'permanent'; reply: string; handoff?: RemoteHandoff };

/** A failure of the whole attempt before any recipient was settled: try another host or later. */
export class HostFailure extends Error {
  constructor(
    message: string,
    readonly permanent = false,
    /** A TLS failure: 'starttls-not-supported', or Node's certificate error code. */
    readonly tlsFailure?: string,
  ) {
    super(message);
  }
}

const isEightBit = (bytes: Uint8Array) => bytes.some((b) => b >= 0x80);
const outcomeOf = (code: number): RecipientOutcome['outcome'] => (code < 400 ? 'delivered' : code < 500 ? 'temporary' : 'permanent');

function openConnection(host: string, port: number, timeoutMs: number, lookup?: LookupFunction): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // Commands are small writes that wait for replies: Nagle's algorithm would hold each one for a
    // delayed ACK (~40 ms per round trip on Linux).
    const socket = tcpConnect({ host, port, noDelay: true, ...(lookup ? { lookup } : {}) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new HostFailure(`connect to ${host}:${port} timed out`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new HostFailure(`connect to ${host}:${port}: ${err.message}`));
    });
  });
}

class ClientConnection {
  readonly reader: ReplyReader;
  extensions = new Map<string, string>();

  constructor(public socket: Socket) {
    this.reader = new ReplyReader(socket);
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }

  /** Writes the pieces in order, waiting for the socket to drain when it asks to, each wait at most blockTimeoutMs. */
  async write(pieces: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, blockTimeoutMs: number): Promise<void> {
    for await (const piece of pieces) {
      if (this.socket.write(piece)) continue;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new ConnectionError('data block timeout')), blockTimeoutMs);
        this.socket.once('drain', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async command(line: string, timeoutMs: number): Promise<SmtpReply> {
    this.send(line);
    return this.reader.read(timeoutMs);
  }

  async hello(name: string, timeoutMs: number): Promise<void> {
    const ehlo = await this.command(`EHLO ${name}`, timeoutMs);
    if (ehlo.code === 250) {
      this.extensions = new Map(
        ehlo.lines.slice(1).map((line) => {
          const [keyword = '', ...rest] = line.split(' ');
          return [keyword.toUpperCase(), rest.join(' ')] as const;
        }),
      );
      return;
    }
    // An old server: fall back to HELO (RFC 5321 §3.2), with no extensions.
    const helo = await this.command(`HELO ${name}`, timeoutMs);
    if (helo.code !== 250) throw new HostFailure(`HELO refused: ${replyText(helo)}`, helo.code >= 500);
    this.extensions = new Map();
  }

  /** Ends the session politely (RFC 5321 §4.1.1.10); the reply is awaited briefly, then the socket closes. */
  async quit(): Promise<void> {
    this.send('QUIT');
    await this.reader.read(2000).catch(() => undefined);
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Runs one transaction. Throws HostFailure when nothing was settled (connection, greeting, TLS,
 * MAIL refused); otherwise returns the per-recipient outcomes.
 */
export async function deliverToHost(request: TransactionRequest): Promise<RecipientOutcome[]> {
  const { timeouts } = request;
  const connection = new ClientConnection(await openConnection(request.host, request.port, timeouts.connect, request.lookup));
  try {
    const greeting = await connection.reader.read(timeouts.greeting).catch((err: Error) => {
      throw new HostFailure(`no greeting: ${err.message}`);
    });
    if (greeting.code !== 220) throw new HostFailure(`greeting refused: ${replyText(greeting)}`);
    await connection.hello(request.heloName, timeouts.mail);

    if (request.tls !== 'none' && connection.extensions.has('STARTTLS')) {
      const reply = await connection.command('STARTTLS', timeouts.mail);
      if (reply.code !== 220) {
        if (request.tls === 'required') throw new HostFailure(`STARTTLS refused: ${replyText(reply)}`, false, 'starttls-not-supported');
        request.onTls?.({ starttls: false });
      } else {
        const secure = tlsConnect({
          socket: connection.socket,
          servername: request.serverName,
          rejectUnauthorized: request.tls === 'required',
          minVersion: 'TLSv1.2',
          ...(request.extraCa ? { ca: [...rootCertificates, request.extraCa] } : {}),
        });
        await new Promise<void>((resolve, reject) => {
          secure.once('secureConnect', resolve);
          secure.once('error', (err: NodeJS.ErrnoException) => reject(new HostFailure(`TLS handshake: ${err.message}`, false, err.code ?? 'validation-failure')));
        });
        request.onTls?.(tlsSessionReport(secure));
        connection.socket = secure;
        connection.reader.attach(secure);
        await connection.hello(request.heloName, timeouts.mail); // RFC 3207 §4.2: start over
      }
    } else if (request.tls === 'required') {
      throw new HostFailure('TLS is required for this destination but the server does not offer STARTTLS', false, 'starttls-not-supported');
    } else {
      request.onTls?.({ starttls: false });
    }

    const permanentForAll = (reply: string) => request.recipients.map((recipient) => ({ recipient, outcome: 'permanent' as const, reply }));
    if (request.smtputf8 && !connection.extensions.has('SMTPUTF8')) {
      // RFC 6531 §3.5: a message that needs SMTPUTF8 cannot be sent to a server without it.
      return permanentForAll(`553 5.6.7 ${request.host} does not support SMTPUTF8, which this message needs`);
    }
    if (request.requireTls && !connection.extensions.has('REQUIRETLS')) {
      // RFC 8689 §4.2.1: a REQUIRETLS message goes only to a server that promises to keep requiring TLS.
      return permanentForAll(`550 5.7.30 ${request.host} does not offer REQUIRETLS, which this message requires`);
    }
    let message = request.message;
    const bdat = (request.chunking ?? true) && connection.extensions.has('CHUNKING');
    const binary = Boolean(request.binaryMime) && bdat && connection.extensions.has('BINARYMIME');
    // A binary body cannot travel as lines: without BINARYMIME at the other end, it is encoded (RFC 3030 §3).
    if (request.binaryMime && !binary) message = encodeBinaryMime(message);
    const eightBit = isEightBit(message);
    if (eightBit && !binary && !request.smtputf8 && !connection.extensions.has('8BITMIME')) message = downgradeTo7bit(message);
    const sizeLimit = Number(connection.extensions.get('SIZE') || 0);
    if (sizeLimit > 0 && message.length > sizeLimit) {
      return permanentForAll(`552 5.3.4 message size ${message.length} exceeds ${request.host}'s limit of ${sizeLimit}`);
    }

    // RFC 3461 §5.2: the DSN request goes on only to a server that offers DSN; to one without, it is left
    // out and every delivered recipient is reported as relayed without it.
    const dsn = connection.extensions.has('DSN');
    const mailParameters = [
      connection.extensions.has('SIZE') ? ` SIZE=${message.length}` : '',
      binary ? ' BODY=BINARYMIME' : eightBit && connection.extensions.has('8BITMIME') ? ' BODY=8BITMIME' : '',
      request.smtputf8 ? ' SMTPUTF8' : '',
      request.requireTls ? ' REQUIRETLS' : '',
      dsn && request.dsn?.ret ? ` RET=${request.dsn.ret}` : '',
      dsn && request.dsn?.envid !== undefined ? ` ENVID=${encodeXtext(request.dsn.envid)}` : '',
    ].join('');
    const recipientDsn = new Map((request.dsn?.recipients ?? []).map((r) => [r.recipient, r]));
    const rcptParameters = (recipient: string): string => {
      const wanted = dsn ? recipientDsn.get(recipient) : undefined;
      if (!wanted) return '';
      return `${wanted.notify ? ` NOTIFY=${wanted.notify.join(',')}` : ''}${wanted.orcpt !== undefined ? ` ORCPT=${orcptParameter(wanted.orcpt)}` : ''}`;
    };
    const commands = [`MAIL FROM:<${request.sender}>${mailParameters}`, ...request.recipients.map((r) => `RCPT TO:<${r}>${rcptParameters(r)}`)];
    const pipelining = connection.extensions.has('PIPELINING');
    const replies: SmtpReply[] = [];
    if (pipelining) {
      // RFC 2920: MAIL, every RCPT and DATA in one write; the replies come back in order. BDAT waits for
      // the RCPT replies: a chunk sent for no accepted recipient would still have to cross the network.
      connection.socket.write(`${[...commands, ...(bdat ? [] : ['DATA'])].join('\r\n')}\r\n`);
      for (let i = 0; i < commands.length; i++) replies.push(await connection.reader.read(i === 0 ? timeouts.mail : timeouts.rcpt));
    } else {
      for (const [i, line] of commands.entries()) {
        replies.push(await connection.command(line, i === 0 ? timeouts.mail : timeouts.rcpt));
        if (i === 0 && replies[0]!.code !== 250) break;
      }
    }
    const mail = replies[0]!;
    if (mail.code !== 250) {
      const outcome = outcomeOf(mail.code);
      return request.recipients.map((recipient) => ({ recipient, outcome, reply: `MAIL FROM: ${replyText(mail)}` }));
    }
    const results: RecipientOutcome[] = request.recipients.map((recipient, i) => {
      const reply = replies[i + 1]!;
      return { recipient, outcome: reply.code === 250 || reply.code === 251 ? 'delivered' : outcomeOf(reply.code), reply: replyText(reply) };
    });
    const accepted = results.filter((r) => r.outcome === 'delivered');
    if (bdat) {
      if (accepted.length === 0) {
        await connection.quit();
        return results;
      }
      // RFC 3030: the whole message as one last chunk; its octets go as they are, no dot-stuffing.
      await connection.write([Buffer.from(`BDAT ${message.length} LAST\r\n`), message], timeouts.dataBlock);
    } else {
      const data = pipelining ? await connection.reader.read(timeouts.dataInit) : accepted.length > 0 ? await connection.command('DATA', timeouts.dataInit) : undefined;
      if (accepted.length === 0) {
        await connection.quit();
        return results;
      }
      if (!data || data.code !== 354) {
        const outcome = data ? outcomeOf(data.code) : 'temporary';
        for (const r of accepted) Object.assign(r, { outcome, reply: `DATA: ${data ? replyText(data) : 'no reply'}` });
        return results;
      }
      await connection.write(dotStuff([message]), timeouts.dataBlock);
    }
    let final: SmtpReply;
    try {
      final = await connection.reader.read(timeouts.dataTerm);
    } catch (err) {
      // RFC 5321 §4.1.1.4: without the final reply the message may or may not have been taken; retry.
      for (const r of accepted) Object.assign(r, { outcome: 'temporary', reply: `after ${bdat ? 'BDAT' : 'DATA'}: ${(err as Error).message}` });
      return results;
    }
    for (const r of accepted) Object.assign(r, { outcome: outcomeOf(final.code), reply: replyText(final) });
    for (const r of accepted) if (r.outcome === 'delivered') r.handoff = dsn ? 'relayed-with-dsn' : 'relayed-without-dsn';
    await connection.quit();
    return results;
  } catch (err) {
    if (err instanceof HostFailure) throw err;
    throw new HostFailure((err as Error).message);
  } finally {
    connection.close();
  }
}

const tlsSessionReport = (secure: TLSSocket): TlsSessionReport =>
  secure.authorized ? { starttls: true, authorized: true } : { starttls: true, authorized: false, authorizationError: String(secure.authorizationError ?? 'unknown') };
