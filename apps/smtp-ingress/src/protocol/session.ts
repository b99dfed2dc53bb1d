// The SMTP server session as an explicit state machine (RFC 5321 §4.1.4 ordering, §4.3.2 replies).
// It turns command lines and DATA bytes into replies and calls its hooks for the effects (recipient check,
// enqueue); it owns the DATA reader of the message being received. It never touches a socket, so every
// state and verb is unit-testable, and the connection only moves bytes.
import type { DsnReturn, RecipientDsn } from '@mail/contracts';
import { countHeader, parseHeaders } from '@mail/mime';
import { ChunkReader } from './chunk-reader.js';
import { formatOriginalRecipient, parseEnvid, parseNotify, parseOrcpt, parseRet } from '@mail/wire';
import { DataReader, type DataResult, type BareLineEndingPolicy } from './data-reader.js';
import { HeaderSection } from './header-section.js';
import { parseCommandLine, parsePathArgument, isDomain } from './grammar.js';
import { formatReceivedHeader } from './trace.js';
import { decide, type AuthPolicy } from '../auth/policy.js';
import { formatAuthenticationResults } from '../auth/results-header.js';
import type { MessageCheck, MessageIdentity } from '../auth/verification.js';
import type { AuthVerdict } from '../auth/verdict.js';
import { Replies, reply, type Reply } from './replies.js';

/**
 * `Initial`: before HELO/EHLO (and again after STARTTLS). `Ready`: greeted, no transaction. `Mail`: MAIL
 * given. `Recipients`: at least one RCPT accepted. `Data`: reading the message after DATA. `Chunks`: the
 * message is arriving in BDAT chunks (RFC 3030), between and during them. `Auth`: inside a SASL exchange,
 * where lines are responses, not commands.
 */
export type SessionState = 'Initial' | 'Ready' | 'Mail' | 'Recipients' | 'Data' | 'Chunks' | 'Auth' | 'Closed';

export type RecipientVerdict = 'local' | 'unknown-user' | 'remote';

export interface Envelope {
  sender: string;
  recipients: string[];
  /** The recipients mailbox-store keeps mail for: queue-manager delivers them on the local lane. */
  localRecipients: string[];
  smtputf8: boolean;
  eightBitMime: boolean;
  /** BODY=BINARYMIME (RFC 3030): the body may hold any octet; it arrives by BDAT only. */
  binaryMime: boolean;
  declaredSize?: number;
  /** The account that authenticated (SMTP AUTH) before MAIL; absent for mail from outside. */
  submittedBy?: string;
  /** RFC 8689 REQUIRETLS was given at MAIL (only possible under TLS). */
  requireTls?: boolean;
  /** RET and ENVID given at MAIL (RFC 3461 §4.3, §4.4); ENVID decoded from xtext. */
  ret?: DsnReturn;
  envid?: string;
  /** NOTIFY and ORCPT given at RCPT (RFC 3461 §4.1, §4.2), for the recipients that gave either. */
  recipientDsn: RecipientDsn[];
}

/**
 * Where the message of a transaction goes as it arrives (the spool): written piece by piece (a large one
 * may reach durable storage in parts before its end), then committed — or aborted when the transaction
 * ends without it.
 */
export interface MessageSink {
  /** The next piece of the message (a view: kept by the sink until stored, never modified). */
  write(piece: Buffer): void;
  /** Makes the message — `prefix`, then every piece written — durable and queued; resolves only then. Throw to answer 451. */
  commit(prefix: Buffer, envelope: Envelope, clientAddress: string): Promise<void>;
  /** The transaction ended without this message: nothing of it is queued. */
  abort(): void;
  /** A promise while the sink is behind with what was written (reading should wait for it); undefined when it is not. */
  whenCaughtUp?(): Promise<void> | undefined;
}

/** A header section longer than this is taken as ended there (memory stays bounded while it is held). */
const MAX_HEADER_SECTION_BYTES = 1024 * 1024;

/** A lock says how long it still lasts (retryAfterMs), so that the reply can tell the client. */
export type AuthOutcome = { ok: true; mailbox: string } | { ok: false; locked?: boolean; retryAfterMs?: number };

export interface SessionHooks {
  /** Checks credentials (and applies failure throttling per client address); throw for a temporary failure. */
  authenticate?(user: string, password: string, clientAddress: string): Promise<AuthOutcome>;
  /** Where a recipient lives; throw for a temporary failure (answered 451). */
  checkRecipient(address: string): Promise<RecipientVerdict>;
  /** Where the message of the transaction (queue id given) is written as it arrives, and committed. */
  storeMessage(queueId: string): MessageSink;
  newQueueId(): string;
  /** Rate limit per client address: false refuses the transaction at MAIL with 450 4.7.1. */
  admitMessage?(clientAddress: string): boolean;
  /** Rate limit of recipients per client address: false answers that RCPT 452 4.5.3. */
  admitRecipient?(clientAddress: string): boolean;
  /**
   * Starts checking the authentication (SPF, DKIM, ARC, DMARC) of the message whose DATA begins; it is
   * fed the data as it arrives. Not asked for mail from an authenticated client. Undefined: not checked.
   */
  verifyMessage?(identity: MessageIdentity): MessageCheck | undefined;
}

export interface SessionLimits {
  maxMessageBytes: number;
  maxRecipients: number;
  maxErrors: number;
  bareLineEndings: BareLineEndingPolicy;
  /** More Received: headers than this means a mail loop (RFC 5321 §6.3); default 100. */
  maxReceivedHeaders?: number;
  /** Messages in one session before it is closed with 421; default unlimited. */
  maxMessagesPerConnection?: number;
  /** Accepted recipients in one session, all transactions together; default unlimited. */
  maxRecipientsPerConnection?: number;
}

export interface SessionContext {
  serverName: string;
  clientAddress: string;
  /** Set once the client authenticated (submission); unauthenticated clients may not relay. */
  authenticatedAs?: string;
  /** STARTTLS can be offered on this connection. */
  tlsAvailable?: boolean;
  /** The connection is encrypted (implicit TLS). */
  secure?: boolean;
  /** AUTH is offered on this listener (submission ports). */
  authAvailable?: boolean;
  /** AUTH PLAIN/LOGIN allowed without TLS (only for trusted setups). */
  allowPlaintextAuth?: boolean;
  /** MAIL needs a prior AUTH (submission ports, RFC 6409). */
  authRequired?: boolean;
  /** An authenticated user may only use its own address as the envelope sender. */
  enforceSenderOwnership?: boolean;
  /** The client is in a trusted network (SMTP_RELAY_NETWORKS): it may relay without authenticating. */
  trustedNetwork?: boolean;
  /**
   * Our authserv-id (RFC 8601): the Authentication-Results header we add names it, and any arriving that
   * claims it is removed. Default: serverName.
   */
  authservId?: string;
  /** What a failed DMARC check leads to; undefined: every message is accepted and marked. */
  authPolicy?: AuthPolicy;
  now?: () => Date;
}

/** A verb's reply; undefined when the reply comes after the octets the command announced (BDAT). */
type Handler = (session: SmtpSession, argument: string) => Promise<Reply | undefined> | Reply | undefined;

/**
 * A verb's policy, checked by command() before its handler, in this order (as Postfix's command table
 * carries its flags): the states it is legal in, then each flag it has.
 */
interface CommandPolicy {
  handler: Handler;
  /** States in which the verb is legal; any other state answers 503. */
  states: readonly SessionState[];
  /** Reply text when used out of sequence. */
  sequenceError?: string;
  /** Offered only on listeners with AUTH (submission); 502 elsewhere. */
  authListenerOnly?: boolean;
  /** Refused once the client has authenticated (503). */
  beforeAuthOnly?: boolean;
  /** Carries a password: refused before TLS (538) unless plaintext authentication is allowed. */
  needsTls?: boolean;
  /** On a listener that requires AUTH (submission), refused until the client has authenticated (530). */
  needsAuth?: boolean;
}

const ANY: readonly SessionState[] = ['Initial', 'Ready', 'Mail', 'Recipients', 'Chunks'];

/** The command table: every verb, the states it is allowed in, and its handler. */
const COMMANDS: Record<string, CommandPolicy> = Object.assign(Object.create(null) as Record<string, CommandPolicy>, {
  EHLO: { handler: (s: SmtpSession, a: string) => s.hello(a, true), states: ANY },
  HELO: { handler: (s: SmtpSession, a: string) => s.hello(a, false), states: ANY },
  MAIL: {
    handler: (s: SmtpSession, a: string) => s.mail(a),
    states: ['Ready'],
    sequenceError: 'Send HELO/EHLO first, or finish the current transaction (RSET)',
    needsAuth: true,
  },
  RCPT: { handler: (s: SmtpSession, a: string) => s.rcpt(a), states: ['Mail', 'Recipients'], sequenceError: 'Need MAIL before RCPT' },
  DATA: { handler: (s: SmtpSession, a: string) => s.data(a), states: ['Mail', 'Recipients', 'Chunks'], sequenceError: 'Need MAIL and RCPT before DATA' },
  // Legal in every state: its chunk must be read (and thrown away) even when it is refused, or the
  // octets would be taken for commands; the handler answers out-of-sequence use after the chunk.
  BDAT: { handler: (s: SmtpSession, a: string) => s.bdat(a), states: ANY },
  RSET: { handler: (s: SmtpSession, a: string) => s.rset(a), states: ANY },
  NOOP: { handler: () => Replies.ok(), states: ANY },
  QUIT: { handler: () => Replies.bye(), states: ANY },
  VRFY: { handler: (_s: SmtpSession, a: string) => (a.trim() ? Replies.cannotVerify() : Replies.syntax('Syntax: VRFY <address>')), states: ANY },
  EXPN: { handler: () => Replies.notImplemented('EXPN is disabled'), states: ANY },
  HELP: { handler: () => Replies.help(), states: ANY },
  STARTTLS: { handler: (s: SmtpSession, a: string) => s.startTls(a), states: ANY },
  AUTH: {
    handler: (s: SmtpSession, a: string) => s.auth(a),
    states: ['Ready'],
    sequenceError: 'AUTH is allowed after EHLO and outside a mail transaction',
    authListenerOnly: true,
    beforeAuthOnly: true,
    needsTls: true,
  },
  // Recognised, but not offered.
  TURN: { handler: () => Replies.notImplemented(), states: ANY },
});

export class SmtpSession {
  state: SessionState = 'Initial';
  clientName = '';
  private esmtp = false;
  private envelope: Envelope | undefined;
  private attemptedRecipients = 0;
  /** RCPTs answered 250 in this transaction, repeats of a recipient included: what maxRecipients limits. */
  private recipientsNamed = 0;
  private errors = 0;
  private queueId = '';
  /** The authentication check of the message being received. */
  private check: MessageCheck | undefined;
  /** Where the message being received goes, and its header section on the way (from DATA or the first BDAT). */
  private sink: MessageSink | undefined;
  private headers: HeaderSection | undefined;
  /** The DATA reader of the message being received (state Data). */
  private dataReader: DataReader | undefined;
  /** The message arriving in BDAT chunks (state Chunks). */
  private chunks: ChunkReader | undefined;
  /**
   * The BDAT chunk whose octets are awaited: part of the message (its reply given when it is complete),
   * or refused, read only to be thrown away before the refusal is given.
   */
  private chunk: { last: boolean; octets: number } | { discard: number; refusal: Reply } | undefined;
  private messagesQueued = 0;
  private recipientsAccepted = 0;
  private secure: boolean;
  private authenticatedAs: string | undefined;
  /** The SASL exchange in progress (state Auth). */
  private sasl: { mechanism: 'PLAIN' | 'LOGIN'; user?: string } | undefined;

  constructor(
    private readonly context: SessionContext,
    private readonly limits: SessionLimits,
    private readonly hooks: SessionHooks,
  ) {
    this.secure = context.secure ?? false;
    this.authenticatedAs = context.authenticatedAs;
  }

  greeting(): Reply {
    return reply(220, undefined, `${this.context.serverName} ESMTP ready`);
  }

  /**
   * Handles one command line (without its CRLF). A 354 reply puts the session in the Data state; an
   * undefined reply (BDAT) means that octets follow (readingData), and the reply comes from finishData().
   */
  async command(line: string): Promise<Reply | undefined> {
    if (this.state === 'Auth') return this.countErrors(await this.authContinue(line));
    const { verb, argument } = parseCommandLine(line);
    const policy = COMMANDS[verb];
    let result: Reply | undefined;
    if (!policy) result = Replies.unrecognised();
    else if (!policy.states.includes(this.state)) result = Replies.badSequence(policy.sequenceError ?? 'Bad sequence of commands');
    else result = this.refusedByPolicy(policy) ?? (await policy.handler(this, argument));
    return result && this.countErrors(result);
  }

  /** The reply of the first flag of the verb's policy that refuses it now; undefined when none does. */
  private refusedByPolicy(policy: CommandPolicy): Reply | undefined {
    if (policy.authListenerOnly && !(this.context.authAvailable && this.hooks.authenticate)) return Replies.notImplemented('AUTH not available on this port');
    if (policy.beforeAuthOnly && this.authenticatedAs) return Replies.badSequence('Already authenticated');
    if (policy.needsTls && !this.secure && !this.context.allowPlaintextAuth) return Replies.encryptionRequired();
    if (policy.needsAuth && this.context.authRequired && !this.authenticatedAs) return Replies.authRequired();
    return undefined;
  }

  /** Reports a command line over the length limit (it was discarded by the line reader). */
  lineTooLong(max: number): Reply {
    return this.countErrors(Replies.lineTooLong(max));
  }

  private countErrors(result: Reply): Reply {
    if (result.code >= 500) {
      this.errors++;
      if (this.errors >= this.limits.maxErrors) result = Replies.tooManyErrors();
    }
    if (result.close) this.state = 'Closed';
    return result;
  }

  hello(argument: string, extended: boolean): Reply {
    const name = argument.trim();
    if (name === '' || name.includes(' ')) return Replies.syntax(`Syntax: ${extended ? 'EHLO' : 'HELO'} <domain or address literal>`);
    // A domain is at most 255 octets (RFC 5321 §4.5.3.1.2); the name is echoed in the 250 reply line.
    if (Buffer.byteLength(name) > 255 || (!isDomain(name) && !/^[\x21-\x7e]+$/.test(name))) return Replies.syntax('Invalid domain name');
    this.clientName = name;
    this.esmtp = extended;
    this.resetTransaction();
    this.state = 'Ready';
    if (!extended) return reply(250, undefined, `${this.context.serverName}`);
    return reply(
      250,
      undefined,
      `${this.context.serverName} Hello ${name} [${this.context.clientAddress}]`,
      'PIPELINING',
      `SIZE ${this.limits.maxMessageBytes}`,
      '8BITMIME',
      'ENHANCEDSTATUSCODES',
      'SMTPUTF8',
      'CHUNKING',
      'BINARYMIME',
      'DSN',
      ...(this.context.tlsAvailable && !this.secure ? ['STARTTLS'] : []),
      ...(this.secure ? ['REQUIRETLS'] : []), // RFC 8689 §2: offered only under TLS
      ...(this.authOffered ? ['AUTH PLAIN LOGIN'] : []),
      'HELP',
    );
  }

  private get authOffered(): boolean {
    return Boolean(this.context.authAvailable && this.hooks.authenticate && (this.secure || this.context.allowPlaintextAuth) && !this.authenticatedAs);
  }

  /** RFC 3207: answer 220, then the connection negotiates TLS and calls tlsStarted(). */
  startTls(argument: string): Reply {
    if (argument.trim() !== '') return Replies.syntax('STARTTLS takes no arguments');
    if (!this.context.tlsAvailable) return Replies.notImplemented('STARTTLS not available');
    if (this.secure) return Replies.badSequence('TLS already active');
    this.resetTransaction();
    return { ...reply(220, '2.0.0', 'Ready to start TLS'), startTls: true };
  }

  /** After the handshake: everything known before it is forgotten, the client must EHLO again (RFC 3207 §4.2). */
  tlsStarted(): void {
    this.secure = true;
    this.clientName = '';
    this.esmtp = false;
    this.resetTransaction();
    this.state = 'Initial';
  }

  get isSecure(): boolean {
    return this.secure;
  }

  /** RFC 4954 AUTH with the PLAIN (RFC 4616) and LOGIN mechanisms (where, when and how: its policy). */
  async auth(argument: string): Promise<Reply> {
    const [mechanism = '', initial, ...extra] = argument.trim().split(/\s+/);
    if (extra.length > 0) return Replies.syntax('Syntax: AUTH mechanism [initial-response]');
    const name = mechanism.toUpperCase();
    if (name === 'PLAIN') {
      if (initial === undefined) {
        this.sasl = { mechanism: 'PLAIN' };
        this.state = 'Auth';
        return reply(334, undefined, '');
      }
      return this.authPlain(initial);
    }
    if (name === 'LOGIN') {
      this.sasl = { mechanism: 'LOGIN' };
      this.state = 'Auth';
      if (initial !== undefined) return this.authContinue(initial);
      return reply(334, undefined, Buffer.from('Username:').toString('base64'));
    }
    return Replies.unknownMechanism();
  }

  private async authContinue(line: string): Promise<Reply> {
    const sasl = this.sasl!;
    if (line.trim() === '*') return this.endSasl(Replies.authCancelled());
    if (sasl.mechanism === 'PLAIN') return this.authPlain(line.trim());
    const decoded = decodeSaslResponse(line);
    if (decoded === undefined) return this.endSasl(Replies.authUndecodable());
    if (sasl.user === undefined) {
      sasl.user = decoded;
      return reply(334, undefined, Buffer.from('Password:').toString('base64'));
    }
    return this.verify(sasl.user, decoded);
  }

  private async authPlain(response: string): Promise<Reply> {
    const decoded = response === '=' ? '' : decodeSaslResponse(response);
    if (decoded === undefined) return this.endSasl(Replies.authUndecodable());
    const [authzid = '', user = '', password = '', ...rest] = decoded.split('\0');
    // Acting for another identity (authzid) is not supported.
    if (rest.length > 0 || user === '' || (authzid !== '' && authzid.toLowerCase() !== user.toLowerCase())) {
      return this.endSasl(Replies.authFailed());
    }
    return this.verify(user, password);
  }

  private async verify(user: string, password: string): Promise<Reply> {
    let outcome: AuthOutcome;
    try {
      outcome = await this.hooks.authenticate!(user, password, this.context.clientAddress);
    } catch {
      return this.endSasl(Replies.authTemporaryFailure());
    }
    if (!outcome.ok) return this.endSasl(outcome.locked ? Replies.authLocked(outcome.retryAfterMs) : Replies.authFailed());
    this.authenticatedAs = outcome.mailbox;
    return this.endSasl(Replies.authSucceeded());
  }

  private endSasl(result: Reply): Reply {
    this.sasl = undefined;
    if (this.state === 'Auth') this.state = 'Ready';
    return result;
  }

  get user(): string | undefined {
    return this.authenticatedAs;
  }

  mail(argument: string): Reply {
    if (this.messagesQueued >= (this.limits.maxMessagesPerConnection ?? Number.POSITIVE_INFINITY)) return Replies.tooManyMessagesInSession();
    if (this.hooks.admitMessage && !this.hooks.admitMessage(this.context.clientAddress)) return Replies.rateLimited();
    const parsed = parsePathArgument(argument, 'FROM', true);
    if (!parsed.ok) return parsed.parameters ? Replies.syntax(parsed.error) : Replies.badSender(parsed.error);
    const { address, parameters, utf8 } = parsed.value;
    if (this.authenticatedAs && this.context.enforceSenderOwnership && address !== '' && address.toLowerCase() !== this.authenticatedAs.toLowerCase()) {
      return Replies.senderNotOwned(this.authenticatedAs);
    }
    const envelope: Envelope = { sender: address, recipients: [], localRecipients: [], smtputf8: false, eightBitMime: false, binaryMime: false, recipientDsn: [], ...(this.authenticatedAs ? { submittedBy: this.authenticatedAs } : {}) };
    for (const [name, value] of parameters) {
      if (!this.esmtp) return Replies.unknownParameter(name);
      switch (name) {
        case 'SIZE': {
          if (value === true || !/^\d{1,20}$/.test(value)) return Replies.syntax('SIZE needs a number');
          const size = Number(value);
          if (size > this.limits.maxMessageBytes) return Replies.sizeExceeded(this.limits.maxMessageBytes);
          envelope.declaredSize = size;
          break;
        }
        case 'BODY': {
          const body = value === true ? '' : value.toUpperCase();
          if (body !== '7BIT' && body !== '8BITMIME' && body !== 'BINARYMIME') return Replies.syntax('BODY must be 7BIT, 8BITMIME or BINARYMIME');
          envelope.eightBitMime = body !== '7BIT';
          envelope.binaryMime = body === 'BINARYMIME';
          break;
        }
        case 'SMTPUTF8':
          if (value !== true) return Replies.syntax('SMTPUTF8 takes no value');
          envelope.smtputf8 = true;
          break;
        case 'REQUIRETLS':
          if (value !== true) return Replies.syntax('REQUIRETLS takes no value');
          if (!this.secure) return Replies.requireTlsWithoutTls();
          envelope.requireTls = true;
          break;
        case 'RET': {
          const ret = parseRet(value);
          if (!ret.ok) return Replies.syntax(ret.error);
          envelope.ret = ret.value;
          break;
        }
        case 'ENVID': {
          const envid = parseEnvid(value);
          if (!envid.ok) return Replies.syntax(envid.error);
          envelope.envid = envid.value;
          break;
        }
        default:
          return Replies.unknownParameter(name);
      }
    }
    if (utf8 && !envelope.smtputf8) return Replies.utf8NotDeclared();
    this.envelope = envelope;
    this.state = 'Mail';
    return Replies.senderOk();
  }

  async rcpt(argument: string): Promise<Reply> {
    const envelope = this.envelope!;
    const parsed = parsePathArgument(argument, 'TO', false);
    if (!parsed.ok) return parsed.parameters ? Replies.syntax(parsed.error) : Replies.badRecipient(parsed.error);
    const { address, parameters, utf8 } = parsed.value;
    const dsn: Omit<RecipientDsn, 'recipient'> = {};
    for (const [name, value] of parameters) {
      if (!this.esmtp) return Replies.unknownParameter(name);
      if (name === 'NOTIFY') {
        const notify = parseNotify(value);
        if (!notify.ok) return Replies.syntax(notify.error);
        dsn.notify = notify.value;
      } else if (name === 'ORCPT') {
        const orcpt = parseOrcpt(value);
        if (!orcpt.ok) return Replies.syntax(orcpt.error);
        dsn.orcpt = formatOriginalRecipient(orcpt.value);
      } else return Replies.unknownParameter(name);
    }
    if (utf8 && !envelope.smtputf8) return Replies.utf8NotDeclared();
    if (this.recipientsNamed >= this.limits.maxRecipients) return Replies.tooManyRecipients(this.limits.maxRecipients);
    // A recipient already in the envelope is answered from it, with no lookup; it gets one copy, but the
    // repeat counts against the limit (10,000 RCPTs of one address cost 100 answers, not 10,000 lookups).
    if (envelope.recipients.some((r) => r.toLowerCase() === address.toLowerCase())) {
      this.recipientsNamed++;
      return Replies.recipientOk();
    }
    if (this.recipientsAccepted >= (this.limits.maxRecipientsPerConnection ?? Number.POSITIVE_INFINITY)) return Replies.tooManyRecipientsInSession();
    if (this.hooks.admitRecipient && !this.hooks.admitRecipient(this.context.clientAddress)) return Replies.recipientRateLimited();
    this.attemptedRecipients++;
    let verdict: RecipientVerdict;
    try {
      verdict = await this.hooks.checkRecipient(address);
    } catch {
      return Replies.lookupFailed();
    }
    if (verdict === 'unknown-user') return Replies.userUnknown();
    if (verdict === 'remote' && !this.authenticatedAs && !this.context.trustedNetwork) return Replies.relayDenied();
    envelope.recipients.push(address);
    if (verdict === 'local') envelope.localRecipients.push(address);
    if (dsn.notify || dsn.orcpt) envelope.recipientDsn.push({ recipient: address, ...dsn });
    this.recipientsAccepted++;
    this.recipientsNamed++;
    this.state = 'Recipients';
    return Replies.recipientOk();
  }

  data(argument: string): Reply {
    if (argument.trim() !== '') return Replies.syntax('DATA takes no arguments');
    if (this.state === 'Chunks') return Replies.badSequence('DATA cannot follow BDAT in one transaction');
    if (this.state !== 'Recipients') {
      return this.attemptedRecipients > 0 ? Replies.noValidRecipients() : Replies.badSequence('Need RCPT before DATA');
    }
    // RFC 3030 §3: a BINARYMIME body cannot be framed by lines.
    if (this.envelope!.binaryMime) return Replies.badSequence('BODY=BINARYMIME needs BDAT, not DATA');
    this.dataReader = new DataReader(this.limits.maxMessageBytes, this.limits.bareLineEndings, this.beginMessage(), false);
    this.state = 'Data';
    return Replies.startData();
  }

  /**
   * RFC 3030 BDAT: `octets` octets follow the command line. The first chunk of a transaction starts the
   * message; the reply comes once the chunk is read (250 for a chunk, the queueing reply after LAST). A
   * refused BDAT still has its chunk read and thrown away, so the octets are never taken for commands.
   */
  bdat(argument: string): Reply | undefined | Promise<Reply> {
    const syntax = /^(\d{1,15})(?: +(LAST))? *$/i.exec(argument);
    // Without a chunk size nothing can say where the octets end: the connection cannot continue.
    if (!syntax) return { ...Replies.syntax('Syntax: BDAT <chunk-size> [LAST]'), close: true };
    const octets = Number(syntax[1]);
    const last = syntax[2] !== undefined;
    const refusal = this.refusedChunk();
    if (refusal) {
      if (octets === 0) return refusal;
      this.chunk = { discard: octets, refusal };
      return undefined;
    }
    if (this.state === 'Recipients') {
      this.chunks = new ChunkReader(this.limits.maxMessageBytes, this.limits.bareLineEndings, this.envelope!.binaryMime, this.beginMessage(), false);
      this.state = 'Chunks';
    }
    this.chunks!.beginChunk(octets);
    this.chunk = { last, octets };
    if (octets === 0) return this.finishData();
    return undefined;
  }

  /** Why a BDAT cannot add to a message now; undefined when it can. */
  private refusedChunk(): Reply | undefined {
    if (this.state === 'Recipients' || this.state === 'Chunks') return undefined;
    if (this.state === 'Mail' && this.attemptedRecipients > 0) return Replies.noValidRecipients();
    return Replies.badSequence(this.state === 'Mail' ? 'Need RCPT before BDAT' : 'Need MAIL and RCPT before BDAT');
  }

  /**
   * The message of the transaction begins (DATA or first BDAT): its queue id, the authentication check it
   * streams through, and where it goes; returns what the reader hands each piece of the message to as it
   * arrives (the reader keeps nothing).
   */
  private beginMessage(): (piece: Buffer) => void {
    this.queueId = this.hooks.newQueueId();
    if (!this.authenticatedAs && this.hooks.verifyMessage) {
      this.check = this.hooks.verifyMessage({ clientAddress: this.context.clientAddress, helo: this.clientName, sender: this.envelope!.sender });
    }
    const sink = this.hooks.storeMessage(this.queueId);
    const headers = new HeaderSection(this.authservId, MAX_HEADER_SECTION_BYTES, (piece) => sink.write(piece));
    this.sink = sink;
    this.headers = headers;
    const check = this.check;
    return check
      ? (piece) => {
          check.write(piece);
          headers.write(piece);
        }
      : (piece) => headers.write(piece);
  }

  private get authservId(): string {
    return this.context.authservId ?? this.context.serverName;
  }

  /**
   * After a 354, the message's bytes are read by pushData() until its terminator, then finishData(); after
   * a BDAT, the chunk's octets are, the same way.
   */
  get readingData(): boolean {
    return this.dataReader !== undefined || this.chunk !== undefined;
  }

  /**
   * Message bytes, as they arrive: -1 while the terminator is still to come, else how many bytes of
   * `input` the message used (what follows is pipelined commands); then finishData() answers it.
   */
  pushData(input: Buffer): number {
    if (this.dataReader) return this.dataReader.push(input);
    const chunk = this.chunk!;
    if ('last' in chunk) return this.chunks!.push(input);
    const used = Math.min(chunk.discard, input.length);
    chunk.discard -= used;
    return chunk.discard === 0 ? used : -1;
  }

  /**
   * While the message's store is behind with what it was given, a promise for when it has caught up: the
   * connection stops reading until then (back-pressure to the client). Undefined when it need not wait.
   */
  whenStored(): Promise<void> | undefined {
    return this.sink?.whenCaughtUp?.();
  }

  /**
   * After pushData() has seen the end of the DATA section or of the BDAT chunk: the reply. At the end of
   * the message, it is checked and queued first.
   */
  async finishData(): Promise<Reply> {
    if (this.dataReader) {
      const result = this.dataReader.result();
      this.dataReader = undefined;
      return this.acceptMessage(result);
    }
    const chunk = this.chunk!;
    this.chunk = undefined;
    if (!('last' in chunk)) return this.countErrors(chunk.refusal);
    const reader = this.chunks!;
    if (!chunk.last) {
      if (!reader.oversize) return reply(250, '2.0.0', `${chunk.octets} octets received`);
      // Refused now, not at LAST: the client stops sending (RFC 3030 §2); chunks already pipelined
      // behind this one are read and answered 503, the transaction being over.
      this.resetTransaction();
      this.state = 'Ready';
      return this.countErrors(Replies.sizeExceeded(this.limits.maxMessageBytes));
    }
    this.chunks = undefined;
    return this.acceptMessage(reader.result());
  }

  /** The whole message has arrived: checks it, queues it and gives the reply. */
  private async acceptMessage(result: DataResult): Promise<Reply> {
    const envelope = this.envelope!;
    const queueId = this.queueId;
    const check = this.check;
    const sink = this.sink!;
    const headers = this.headers!;
    // Finished or aborted below, not by the reset.
    this.check = undefined;
    this.sink = undefined;
    this.resetTransaction();
    this.state = 'Ready';
    headers.end();
    const refused = this.refusedData(result, headers.received);
    if (refused) {
      check?.abort();
      sink.abort();
      return this.countErrors(refused);
    }
    let verdict: AuthVerdict | undefined;
    if (check) {
      verdict = await check.finish();
      const decision = this.context.authPolicy && decide(verdict, this.context.authPolicy, this.context.clientAddress);
      if (decision && decision.action !== 'accept') sink.abort();
      if (decision?.action === 'reject') return this.countErrors(Replies.dmarcRejected(decision.domain));
      if (decision?.action === 'defer') return Replies.dmarcDeferred(decision.domain, decision.why);
    }
    if (result.eightBit) envelope.eightBitMime = true;
    const received = formatReceivedHeader({
      clientName: this.clientName,
      clientAddress: this.context.clientAddress,
      serverName: this.context.serverName,
      protocol: protocolName(this.esmtp, envelope.smtputf8, this.secure, this.authenticatedAs !== undefined),
      queueId,
      recipients: envelope.recipients,
      date: this.context.now?.() ?? new Date(),
    });
    // Our trace and results go on top (a result arriving that claimed to be ours was taken out on the way).
    const ours = received + (verdict ? formatAuthenticationResults(this.authservId, verdict) : '');
    try {
      await sink.commit(Buffer.from(ours, 'utf8'), envelope, this.context.clientAddress);
    } catch {
      return Replies.notQueued();
    }
    this.messagesQueued++;
    return Replies.queued(queueId);
  }

  /** The checks of the data itself: size, line endings, the Received count of a loop (in its header section). */
  private refusedData(result: DataResult, headerSection: Buffer): Reply | undefined {
    if (result.oversize) return Replies.sizeExceeded(this.limits.maxMessageBytes);
    if (result.bareLineEndings > 0 && this.limits.bareLineEndings === 'reject') return Replies.bareLineEnding();
    // Only the header block is parsed, by the shared codec.
    if (countHeader(parseHeaders(headerSection), 'Received') > (this.limits.maxReceivedHeaders ?? 100)) return Replies.loopDetected();
    return undefined;
  }

  rset(argument: string): Reply {
    if (argument.trim() !== '') return Replies.syntax('RSET takes no arguments');
    this.resetTransaction();
    if (this.state !== 'Initial') this.state = 'Ready';
    return Replies.reset();
  }

  /** The connection is gone: a message part-way through is dropped (what was stored of it is left over). */
  ended(): void {
    this.resetTransaction();
    this.state = 'Closed';
  }

  /** Data the server read but never passed on, when a session ends in the middle of a transaction. */
  get inTransaction(): boolean {
    return this.envelope !== undefined;
  }

  private resetTransaction(): void {
    this.envelope = undefined;
    this.attemptedRecipients = 0;
    this.recipientsNamed = 0;
    this.queueId = '';
    this.check?.abort();
    this.check = undefined;
    this.sink?.abort();
    this.sink = undefined;
    this.headers = undefined;
    this.dataReader = undefined;
    this.chunks = undefined;
  }
}

/** The "with" protocol name of the Received header (RFC 3848, RFC 6531 §3.7.3): ESMTP[S][A], UTF8SMTP[S][A]. */
function protocolName(esmtp: boolean, utf8: boolean, secure: boolean, authenticated: boolean): string {
  if (!esmtp) return 'SMTP';
  return `${utf8 ? 'UTF8SMTP' : 'ESMTP'}${secure ? 'S' : ''}${authenticated ? 'A' : ''}`;
}

/** Strict base64 of a SASL response; undefined when it is not base64. */
function decodeSaslResponse(text: string): string | undefined {
  const trimmed = text.trim();
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(trimmed)) return undefined;
  return Buffer.from(trimmed, 'base64').toString('utf8');
}
