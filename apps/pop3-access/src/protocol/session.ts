// The POP3 session as an explicit state machine (RFC 1939 §3-§6, CAPA and response codes of RFC 2449).
// AUTHORIZATION -> (USER/PASS) -> TRANSACTION -> (QUIT) -> UPDATE. It answers command lines and calls
// its maildrop hooks; the socket lives elsewhere, so every verb in every state is unit-testable.
import { retryAfterText } from '@mail/platform';
import { topOfMessage } from './multiline.js';

export type Pop3State = 'Authorization' | 'Transaction' | 'Update' | 'Closed';

export interface Pop3Response {
  ok: boolean;
  text: string;
  /** A SASL continuation ("+ <base64>") instead of +OK/-ERR (RFC 5034). */
  continuation?: boolean;
  /** Negotiate TLS right after this response (STLS). */
  startTls?: boolean;
  /** Content of a multi-line response, unstuffed; the server adds byte-stuffing and the terminator. */
  body?: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  close?: boolean;
  /** The answer to QUIT: the client sends nothing more, so the connection is let go as soon as it has left. */
  quit?: boolean;
}

export interface MaildropMessage {
  uidl: string;
  size: number;
}

export interface Maildrop {
  messages: MaildropMessage[];
  /** The message's content; `top` says only its beginning will be used (TOP), so nothing need be read ahead. */
  read(uidl: string, part?: 'whole' | 'top'): AsyncIterable<Uint8Array>;
  /** Ends the lease; deletes `uidls` first. Resolves once the deletions are durable. */
  close(deleteUidls: string[]): Promise<void>;
}

/** A lock says how long it still lasts (retryAfterMs), so that the reply can tell the client. */
export type Pop3AuthOutcome = { ok: true; mailbox: string } | { ok: false; locked?: boolean; retryAfterMs?: number };

export interface Pop3Hooks {
  /**
   * Checks credentials, with failure throttling per client address and account. Unknown user and wrong
   * password are the same answer, after the same work.
   */
  authenticate(user: string, password: string, clientAddress: string): Promise<Pop3AuthOutcome>;
  /** Takes the maildrop lock; 'locked' when another session holds it. */
  openMaildrop(mailbox: string): Promise<Maildrop | 'locked'>;
}

export interface Pop3Limits {
  maxAuthFailures: number;
}

export interface Pop3Context {
  serverName: string;
  clientAddress: string;
  /** STLS can be offered (a certificate is configured). */
  tlsAvailable: boolean;
  /** The connection is encrypted (implicit TLS on 995, or after STLS). */
  secure: boolean;
  /** USER/PASS and AUTH PLAIN allowed before TLS (RFC 2595 §2: only where the operator accepts the risk). */
  allowPlaintextAuth: boolean;
}

const ok = (text: string, body?: Pop3Response['body']): Pop3Response => ({ ok: true, text, body });
const err = (text: string, close = false): Pop3Response => ({ ok: false, text, close });


type Handler = (session: Pop3Session, args: string[]) => Promise<Pop3Response> | Pop3Response;

/** The command table: for each verb, the states it is allowed in and its handler. */
/**
 * A verb's policy, checked by command() before its handler: the states it is legal in, then its flags.
 * `needsTls`: it carries a password in the clear, so it is refused before TLS unless plaintext login is
 * allowed (RFC 2595 §2). (AUTH is not flagged: without arguments it lists the mechanisms, before TLS too.)
 */
interface CommandPolicy {
  states: readonly Pop3State[];
  handler: Handler;
  needsTls?: boolean;
}

const COMMANDS: Record<string, CommandPolicy> = Object.assign(Object.create(null), {
  CAPA: { states: ['Authorization', 'Transaction'], handler: (s: Pop3Session) => s.capa() },
  STLS: { states: ['Authorization'], handler: (s: Pop3Session, a: string[]) => s.stls(a) },
  AUTH: { states: ['Authorization'], handler: (s: Pop3Session, a: string[]) => s.auth(a) },
  USER: { states: ['Authorization'], handler: (s: Pop3Session, a: string[]) => s.user(a), needsTls: true },
  PASS: { states: ['Authorization'], handler: (s: Pop3Session, a: string[]) => s.pass(a) },
  APOP: { states: ['Authorization'], handler: () => err('APOP not supported') },
  QUIT: { states: ['Authorization', 'Transaction'], handler: (s: Pop3Session) => s.quit() },
  STAT: { states: ['Transaction'], handler: (s: Pop3Session, a: string[]) => s.stat(a) },
  LIST: { states: ['Transaction'], handler: (s: Pop3Session, a: string[]) => s.list(a) },
  UIDL: { states: ['Transaction'], handler: (s: Pop3Session, a: string[]) => s.uidl(a) },
  RETR: { states: ['Transaction'], handler: (s: Pop3Session, a: string[]) => s.retr(a) },
  TOP: { states: ['Transaction'], handler: (s: Pop3Session, a: string[]) => s.top(a) },
  DELE: { states: ['Transaction'], handler: (s: Pop3Session, a: string[]) => s.dele(a) },
  NOOP: { states: ['Transaction'], handler: (_s: Pop3Session, a: string[]) => (a.length ? err('NOOP takes no arguments') : ok('')) },
  RSET: { states: ['Transaction'], handler: (s: Pop3Session, a: string[]) => s.rset(a) },
});

export class Pop3Session {
  state: Pop3State = 'Authorization';
  private pendingUser: string | undefined;
  /** An AUTH PLAIN waiting for its response line. */
  private saslPending = false;
  private authFailures = 0;
  private maildrop: Maildrop | undefined;
  private readonly deleted = new Set<number>();

  private readonly context: Pop3Context;

  constructor(
    context: Pop3Context | string,
    private readonly hooks: Pop3Hooks,
    private readonly limits: Pop3Limits,
  ) {
    // A bare server name means a plain-text test session where login is allowed.
    this.context =
      typeof context === 'string' ? { serverName: context, clientAddress: '', tlsAvailable: false, secure: false, allowPlaintextAuth: true } : { ...context };
  }

  private get serverName(): string {
    return this.context.serverName;
  }

  private get loginAllowed(): boolean {
    return this.context.secure || this.context.allowPlaintextAuth;
  }

  greeting(): Pop3Response {
    return ok(`${this.serverName} POP3 server ready`);
  }

  capa(): Pop3Response {
    const capabilities = ['TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'AUTH-RESP-CODE', 'EXPIRE NEVER', 'IMPLEMENTATION mailplatform'];
    if (this.state === 'Authorization' && this.context.tlsAvailable && !this.context.secure) capabilities.push('STLS');
    if (this.loginAllowed) capabilities.push('USER', 'SASL PLAIN');
    return ok('Capability list follows', [Buffer.from(capabilities.map((c) => `${c}\r\n`).join(''))]);
  }

  /** RFC 2595 §4: answer +OK, then the connection negotiates TLS and calls tlsStarted(). */
  stls(args: string[]): Pop3Response {
    if (args.length > 0) return err('STLS takes no arguments');
    if (!this.context.tlsAvailable) return err('STLS not available');
    if (this.context.secure) return err('TLS already active');
    this.pendingUser = undefined;
    return { ...ok('Begin TLS negotiation'), startTls: true };
  }

  tlsStarted(): void {
    this.context.secure = true;
    this.pendingUser = undefined;
  }

  /** RFC 5034 AUTH with the PLAIN mechanism (RFC 4616). */
  async auth(args: string[]): Promise<Pop3Response> {
    if (args.length === 0) return ok('SASL mechanisms follow', [Buffer.from(this.loginAllowed ? 'PLAIN\r\n' : '')]);
    if (!this.loginAllowed) return err('[AUTH] Authentication requires TLS (use STLS first)');
    if (args[0]!.toUpperCase() !== 'PLAIN' || args.length > 2) return err('Unsupported SASL mechanism (PLAIN is supported)');
    if (args.length === 2) return this.authPlain(args[1]!);
    this.saslPending = true;
    return { ok: true, text: '', continuation: true };
  }

  private async authPlain(response: string): Promise<Pop3Response> {
    if (response === '*') return err('Authentication cancelled');
    const trimmed = response.trim();
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(trimmed) && trimmed !== '=') return err('Cannot decode the response (base64 expected)');
    const [authzid = '', user = '', password = '', ...rest] = Buffer.from(trimmed === '=' ? '' : trimmed, 'base64').toString('utf8').split('\0');
    if (rest.length > 0 || user === '' || (authzid !== '' && authzid.toLowerCase() !== user.toLowerCase())) return this.loginFailed();
    return this.login(user, password);
  }

  async command(line: string): Promise<Pop3Response> {
    if (this.saslPending) {
      this.saslPending = false;
      return this.authPlain(line);
    }
    const [verbText = '', ...args] = line.split(' ');
    const verb = verbText.toUpperCase();
    const entry = COMMANDS[verb];
    if (!entry) return err(verb === '' ? 'Empty command' : 'Unknown command');
    if (!entry.states.includes(this.state)) {
      return err(this.state === 'Authorization' ? 'Not authenticated yet' : `${verb} not allowed now`);
    }
    if (entry.needsTls && !this.loginAllowed) return err('[AUTH] Plain-text login requires TLS (use STLS first)');
    // USER and PASS keep their spaces: passwords (and some user names) may contain them.
    return entry.handler(this, verb === 'PASS' || verb === 'USER' ? [line.slice(verbText.length + 1)] : args.filter((a) => a !== ''));
  }

  user(args: string[]): Pop3Response {
    const name = args[0] ?? '';
    if (name === '' || name.length > 512) return err('Syntax: USER name');
    this.pendingUser = name;
    return ok('Send PASS');
  }

  async pass(args: string[]): Promise<Pop3Response> {
    const user = this.pendingUser;
    this.pendingUser = undefined;
    if (user === undefined) return err('Send USER first');
    return this.login(user, args[0] ?? '');
  }

  private loginFailed(): Pop3Response {
    this.authFailures++;
    // The same answer for an unknown user and a wrong password (no account enumeration).
    return err('[AUTH] Invalid user name or password', this.authFailures >= this.limits.maxAuthFailures);
  }

  private async login(user: string, password: string): Promise<Pop3Response> {
    const outcome = await this.hooks.authenticate(user, password, this.context.clientAddress);
    if (!outcome.ok) {
      if (outcome.locked) return err(`[SYS/TEMP] Too many failed logins; ${retryAfterText(outcome.retryAfterMs)}`, true);
      return this.loginFailed();
    }
    const mailbox = outcome.mailbox;
    const maildrop = await this.hooks.openMaildrop(mailbox);
    if (maildrop === 'locked') return err('[IN-USE] Maildrop is locked by another session');
    if (this.state === 'Closed') {
      // The connection went away while the lock was being taken (abandon() found none): give it back.
      await maildrop.close([]);
      return err('Connection closed', true);
    }
    this.maildrop = maildrop;
    this.state = 'Transaction';
    const { count, octets } = this.totals();
    return ok(`Logged in, ${count} messages (${octets} octets)`);
  }

  async quit(): Promise<Pop3Response> {
    if (this.state === 'Transaction' && this.maildrop) {
      this.state = 'Update';
      const uidls = [...this.deleted].map((n) => this.maildrop!.messages[n - 1]!.uidl);
      try {
        await this.maildrop.close(uidls);
      } catch {
        this.state = 'Closed';
        return { ...err('Some deleted messages not removed', true), quit: true };
      }
      this.maildrop = undefined;
    }
    this.state = 'Closed';
    return { ok: true, text: `${this.serverName} POP3 server signing off`, close: true, quit: true };
  }

  /** The connection ended without QUIT: release the lock, delete nothing (RFC 1939 §6). */
  async abandon(): Promise<void> {
    const maildrop = this.maildrop;
    this.maildrop = undefined;
    this.state = 'Closed';
    if (maildrop) await maildrop.close([]);
  }

  stat(args: string[]): Pop3Response {
    if (args.length > 0) return err('STAT takes no arguments');
    const { count, octets } = this.totals();
    return ok(`${count} ${octets}`);
  }

  list(args: string[]): Pop3Response {
    return this.listing(args, (n, m) => `${n} ${m.size}`);
  }

  uidl(args: string[]): Pop3Response {
    return this.listing(args, (n, m) => `${n} ${m.uidl}`);
  }

  retr(args: string[]): Pop3Response {
    if (args.length !== 1) return err('Syntax: RETR msg');
    const found = this.message(args[0]!);
    if (typeof found === 'string') return err(found);
    return ok(`${found.size} octets`, this.maildrop!.read(found.uidl));
  }

  top(args: string[]): Pop3Response {
    if (args.length !== 2 || !/^\d{1,9}$/.test(args[1]!)) return err('Syntax: TOP msg lines');
    const found = this.message(args[0]!);
    if (typeof found === 'string') return err(found);
    return ok('Top of message follows', topOfMessage(this.maildrop!.read(found.uidl, 'top'), Number(args[1])));
  }

  dele(args: string[]): Pop3Response {
    if (args.length !== 1) return err('Syntax: DELE msg');
    const found = this.message(args[0]!);
    if (typeof found === 'string') return err(found);
    this.deleted.add(Number(args[0]));
    return ok(`Message ${Number(args[0])} deleted`);
  }

  rset(args: string[]): Pop3Response {
    if (args.length > 0) return err('RSET takes no arguments');
    this.deleted.clear();
    const { count, octets } = this.totals();
    return ok(`Maildrop has ${count} messages (${octets} octets)`);
  }

  private listing(args: string[], line: (n: number, m: MaildropMessage) => string): Pop3Response {
    if (args.length > 1) return err('Too many arguments');
    if (args.length === 1) {
      const found = this.message(args[0]!);
      return typeof found === 'string' ? err(found) : ok(line(Number(args[0]), found));
    }
    const lines = this.maildrop!.messages.map((m, i) => (this.deleted.has(i + 1) ? '' : `${line(i + 1, m)}\r\n`)).join('');
    const { count, octets } = this.totals();
    return ok(`${count} messages (${octets} octets)`, [Buffer.from(lines)]);
  }

  /** A message by its number, or the -ERR text for a bad or deleted one. */
  private message(number: string): MaildropMessage | string {
    if (!/^\d{1,9}$/.test(number)) return 'Invalid message number';
    const n = Number(number);
    const message = this.maildrop!.messages[n - 1];
    if (n < 1 || !message) return 'No such message';
    if (this.deleted.has(n)) return `Message ${n} already deleted`;
    return message;
  }

  private totals(): { count: number; octets: number } {
    let count = 0;
    let octets = 0;
    this.maildrop?.messages.forEach((m, i) => {
      if (this.deleted.has(i + 1)) return;
      count++;
      octets += m.size;
    });
    return { count, octets };
  }
}
