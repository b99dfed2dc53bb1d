// The SMTP server session as an explicit state machine (RFC 5321 §4.1.4 ordering, §4.3.2 replies).
// It turns command lines into replies and calls its hooks for the effects (recipient check, enqueue);
// it never touches a socket, so every state and verb is unit-testable.
import { countHeader, parseHeaders } from '@mail/mime';
import type { DataResult, BareLineEndingPolicy } from './data-reader.js';
import { parseCommandLine, parsePathArgument, isDomain } from './grammar.js';
import { formatReceivedHeader } from './trace.js';
import { Replies, reply, type Reply } from './replies.js';

/** `Initial`: before HELO/EHLO. `Ready`: greeted, no transaction. `Mail`: MAIL given. `Recipients`: at least one RCPT accepted. */
export type SessionState = 'Initial' | 'Ready' | 'Mail' | 'Recipients' | 'Data' | 'Closed';

export type RecipientVerdict = 'local' | 'unknown-user' | 'remote';

export interface Envelope {
  sender: string;
  recipients: string[];
  smtputf8: boolean;
  eightBitMime: boolean;
  declaredSize?: number;
}

export interface SessionHooks {
  /** Where a recipient lives; throw for a temporary failure (answered 451). */
  checkRecipient(address: string): Promise<RecipientVerdict>;
  /** Makes the message and its queue entry durable; resolves only then. Throw to answer 451. */
  enqueue(queueId: string, envelope: Envelope, message: Buffer): Promise<void>;
  newQueueId(): string;
}

export interface SessionLimits {
  maxMessageBytes: number;
  maxRecipients: number;
  maxErrors: number;
  bareLineEndings: BareLineEndingPolicy;
  /** More Received: headers than this means a mail loop (RFC 5321 §6.3); default 100. */
  maxReceivedHeaders?: number;
}

export interface SessionContext {
  serverName: string;
  clientAddress: string;
  /** Set once the client authenticated (submission); unauthenticated clients may not relay. */
  authenticatedAs?: string;
  /** The client is in a trusted network (SMTP_RELAY_NETWORKS): it may relay without authenticating. */
  trustedNetwork?: boolean;
  now?: () => Date;
}

type Handler = (session: SmtpSession, argument: string) => Promise<Reply> | Reply;

interface CommandPolicy {
  handler: Handler;
  /** States in which the verb is legal; any other state answers 503. */
  states: readonly SessionState[];
  /** Reply text when used out of sequence. */
  sequenceError?: string;
}

const ANY: readonly SessionState[] = ['Initial', 'Ready', 'Mail', 'Recipients'];

/** The command table: every verb, the states it is allowed in, and its handler. */
const COMMANDS: Record<string, CommandPolicy> = Object.assign(Object.create(null) as Record<string, CommandPolicy>, {
  EHLO: { handler: (s: SmtpSession, a: string) => s.hello(a, true), states: ANY },
  HELO: { handler: (s: SmtpSession, a: string) => s.hello(a, false), states: ANY },
  MAIL: {
    handler: (s: SmtpSession, a: string) => s.mail(a),
    states: ['Ready'],
    sequenceError: 'Send HELO/EHLO first, or finish the current transaction (RSET)',
  },
  RCPT: { handler: (s: SmtpSession, a: string) => s.rcpt(a), states: ['Mail', 'Recipients'], sequenceError: 'Need MAIL before RCPT' },
  DATA: { handler: (s: SmtpSession, a: string) => s.data(a), states: ['Mail', 'Recipients'], sequenceError: 'Need MAIL and RCPT before DATA' },
  RSET: { handler: (s: SmtpSession, a: string) => s.rset(a), states: ANY },
  NOOP: { handler: () => Replies.ok(), states: ANY },
  QUIT: { handler: () => Replies.bye(), states: ANY },
  VRFY: { handler: (_s: SmtpSession, a: string) => (a.trim() ? Replies.cannotVerify() : Replies.syntax('Syntax: VRFY <address>')), states: ANY },
  EXPN: { handler: () => Replies.notImplemented('EXPN is disabled'), states: ANY },
  HELP: { handler: () => Replies.help(), states: ANY },
  // Recognised, but not offered by this listener.
  STARTTLS: { handler: () => Replies.notImplemented('STARTTLS not available on this listener'), states: ANY },
  AUTH: { handler: () => Replies.notImplemented('AUTH not available on this listener'), states: ANY },
  BDAT: { handler: () => Replies.notImplemented('CHUNKING not supported'), states: ANY },
  TURN: { handler: () => Replies.notImplemented(), states: ANY },
});

export class SmtpSession {
  state: SessionState = 'Initial';
  clientName = '';
  private esmtp = false;
  private envelope: Envelope | undefined;
  private attemptedRecipients = 0;
  private errors = 0;
  private queueId = '';

  constructor(
    private readonly context: SessionContext,
    private readonly limits: SessionLimits,
    private readonly hooks: SessionHooks,
  ) {}

  greeting(): Reply {
    return reply(220, undefined, `${this.context.serverName} ESMTP ready`);
  }

  /** Handles one command line (without its CRLF). A 354 reply puts the session in the Data state. */
  async command(line: string): Promise<Reply> {
    const { verb, argument } = parseCommandLine(line);
    const policy = COMMANDS[verb];
    let result: Reply;
    if (!policy) result = Replies.unrecognised();
    else if (!policy.states.includes(this.state)) result = Replies.badSequence(policy.sequenceError ?? 'Bad sequence of commands');
    else result = await policy.handler(this, argument);
    return this.countErrors(result);
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
    if (!isDomain(name) && !/^[\x21-\x7e]+$/.test(name)) return Replies.syntax('Invalid domain name');
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
      'HELP',
    );
  }

  mail(argument: string): Reply {
    const parsed = parsePathArgument(argument, 'FROM', true);
    if (!parsed.ok) return Replies.badSender(parsed.error);
    const { address, parameters, utf8 } = parsed.value;
    const envelope: Envelope = { sender: address, recipients: [], smtputf8: false, eightBitMime: false };
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
          if (body !== '7BIT' && body !== '8BITMIME') return Replies.syntax('BODY must be 7BIT or 8BITMIME');
          envelope.eightBitMime = body === '8BITMIME';
          break;
        }
        case 'SMTPUTF8':
          if (value !== true) return Replies.syntax('SMTPUTF8 takes no value');
          envelope.smtputf8 = true;
          break;
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
    if (!parsed.ok) return Replies.badRecipient(parsed.error);
    const { address, parameters, utf8 } = parsed.value;
    const [first] = parameters.keys();
    if (first !== undefined) return Replies.unknownParameter(first);
    if (utf8 && !envelope.smtputf8) return Replies.utf8NotDeclared();
    const duplicate = envelope.recipients.some((r) => r.toLowerCase() === address.toLowerCase());
    if (!duplicate && envelope.recipients.length >= this.limits.maxRecipients) return Replies.tooManyRecipients(this.limits.maxRecipients);
    this.attemptedRecipients++;
    let verdict: RecipientVerdict;
    try {
      verdict = await this.hooks.checkRecipient(address);
    } catch {
      return Replies.lookupFailed();
    }
    if (verdict === 'unknown-user') return Replies.userUnknown();
    if (verdict === 'remote' && !this.context.authenticatedAs && !this.context.trustedNetwork) return Replies.relayDenied();
    // Each recipient gets one copy even if named twice.
    if (!duplicate) envelope.recipients.push(address);
    this.state = 'Recipients';
    return Replies.recipientOk();
  }

  data(argument: string): Reply {
    if (argument.trim() !== '') return Replies.syntax('DATA takes no arguments');
    if (this.state !== 'Recipients') {
      return this.attemptedRecipients > 0 ? Replies.noValidRecipients() : Replies.badSequence('Need RCPT before DATA');
    }
    this.queueId = this.hooks.newQueueId();
    this.state = 'Data';
    return Replies.startData();
  }

  /** Called by the connection when the data reader has seen the terminator. */
  async finishData(result: DataResult): Promise<Reply> {
    const envelope = this.envelope!;
    const queueId = this.queueId;
    this.resetTransaction();
    this.state = 'Ready';
    if (result.oversize) return this.countErrors(Replies.sizeExceeded(this.limits.maxMessageBytes));
    if (result.bareLineEndings > 0 && this.limits.bareLineEndings === 'reject') return this.countErrors(Replies.bareLineEnding());
    // Only the header block is parsed, by the shared codec.
    if (countHeader(parseHeaders(result.message), 'Received') > (this.limits.maxReceivedHeaders ?? 100)) {
      return this.countErrors(Replies.loopDetected());
    }
    if (result.eightBit) envelope.eightBitMime = true;
    const received = formatReceivedHeader({
      clientName: this.clientName,
      clientAddress: this.context.clientAddress,
      serverName: this.context.serverName,
      protocol: protocolName(this.esmtp, envelope.smtputf8, this.context.authenticatedAs !== undefined),
      queueId,
      recipients: envelope.recipients,
      date: this.context.now?.() ?? new Date(),
    });
    const message = Buffer.concat([Buffer.from(received, 'utf8'), result.message]);
    try {
      await this.hooks.enqueue(queueId, envelope, message);
    } catch {
      return Replies.notQueued();
    }
    return Replies.queued(queueId);
  }

  rset(argument: string): Reply {
    if (argument.trim() !== '') return Replies.syntax('RSET takes no arguments');
    this.resetTransaction();
    if (this.state !== 'Initial') this.state = 'Ready';
    return Replies.reset();
  }

  /** Data the server read but never passed on, when a session ends in the middle of a transaction. */
  get inTransaction(): boolean {
    return this.envelope !== undefined;
  }

  private resetTransaction(): void {
    this.envelope = undefined;
    this.attemptedRecipients = 0;
    this.queueId = '';
  }
}

/** The "with" protocol name of the Received header (RFC 3848, RFC 6531 §3.7.3). */
function protocolName(esmtp: boolean, utf8: boolean, authenticated: boolean): string {
  if (!esmtp) return 'SMTP';
  return `${utf8 ? 'UTF8SMTP' : 'ESMTP'}${authenticated ? 'A' : ''}`;
}
