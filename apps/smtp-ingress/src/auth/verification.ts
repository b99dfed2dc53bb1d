// Checks one message's authentication with the mailauth library as the message arrives: SPF of the
// MAIL FROM and HELO identities starts at DATA, the DKIM body hashes are fed each piece of DATA as the
// reader produces it (nothing is buffered twice), and ARC and DMARC follow the end of data. Every
// lookup goes through the configured resolver; whatever is not done by the deadline is a temperror.
import { PassThrough } from 'node:stream';
import { arc, dkimVerify, dmarc, spf, type ARCResult, type AuthStatus, type DKIMVerifyResult, type SPFResult } from 'mailauth';
import type { DnsLookup } from '@mail/platform';
import type { AuthVerdict, MethodResult } from './verdict.js';

export interface MessageIdentity {
  clientAddress: string;
  /** The HELO/EHLO name. */
  helo: string;
  /** MAIL FROM, empty for the null sender. */
  sender: string;
}

export interface VerificationOptions {
  lookup: DnsLookup;
  /** This server's name, in the comments SPF writes. */
  serverName: string;
  /** How long the checks may still take once the data has ended. */
  timeoutMs: number;
  /** A header section longer than this is not checked (its DKIM results are permerror): it would be held whole. */
  maxHeaderBytes?: number;
  /** Told every verdict (the service's events and metrics). */
  report?: (identity: MessageIdentity, verdict: AuthVerdict) => void;
}

/** What the session feeds and asks; see MessageVerification. */
export interface MessageCheck {
  /** Bytes of the message, in order, dot-stuffing removed. */
  write(chunk: Buffer): void;
  /** The data has ended: the verdict. Never throws. */
  finish(): Promise<AuthVerdict>;
  /** The message will not be accepted (oversize, refused): stop. */
  abort(): void;
}

const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;
const TIMED_OUT: unique symbol = Symbol('timed out');

export class MessageVerification implements MessageCheck {
  private readonly input = new PassThrough();
  private readonly dkim: Promise<DKIMVerifyResult | Error>;
  private readonly spf: Promise<[SPFResult | Error, SPFResult | Error | undefined]>;
  private headerBytes = 0;
  private inHeader = true;
  /** The last two bytes seen in the header section, to find its end across chunk boundaries. */
  private tail = '';
  private headerTooLarge = false;

  constructor(
    private readonly identity: MessageIdentity,
    private readonly options: VerificationOptions,
  ) {
    const { lookup: resolver, serverName: mta } = options;
    const ip = identity.clientAddress.replace(/^::ffff:(?=\d+\.)/, '');
    const heloDomain = isDomainName(identity.helo) ? identity.helo : undefined;
    // RFC 7208 §2.4: the null sender is checked as postmaster@<HELO domain>.
    const sender = identity.sender || (heloDomain ? `postmaster@${heloDomain}` : '');
    const mailFrom = sender ? settle(spf({ sender, ip, helo: identity.helo, mta, resolver })) : Promise.resolve(new Error('no identity to check'));
    const helo = heloDomain ? settle(spf({ sender: `postmaster@${heloDomain}`, ip, helo: heloDomain, mta, resolver })) : Promise.resolve(undefined);
    this.spf = Promise.all([mailFrom, helo]);
    this.dkim = settle(dkimVerify(this.input, { resolver, sender: identity.sender || undefined }));
  }

  write(chunk: Buffer): void {
    if (this.headerTooLarge || this.input.destroyed) return;
    if (this.inHeader) {
      const text = this.tail + chunk.toString('latin1', 0, Math.min(chunk.length, (this.options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES) + 4));
      if (/\n\r?\n/.test(text)) this.inHeader = false;
      else {
        this.tail = text.slice(-2);
        this.headerBytes += chunk.length;
        if (this.headerBytes > (this.options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES)) {
          this.headerTooLarge = true;
          this.input.destroy();
          return;
        }
      }
    }
    this.input.write(chunk);
  }

  abort(): void {
    this.input.destroy();
  }

  async finish(): Promise<AuthVerdict> {
    const verdict = await this.verdict();
    this.options.report?.(this.identity, verdict);
    return verdict;
  }

  private async verdict(): Promise<AuthVerdict> {
    const deadline = Date.now() + this.options.timeoutMs;
    const left = () => Math.max(0, deadline - Date.now());
    if (!this.headerTooLarge) this.input.end();
    const [spfs, dkim] = await Promise.all([within(this.spf, left()), this.headerTooLarge ? Promise.resolve(new Error('header section too large')) : within(this.dkim, left())]);
    const results: MethodResult[] = [];
    let temporaryFailure = false;
    const note = (r: MethodResult) => {
      if (r.result === 'temperror') temporaryFailure = true;
      results.push(r);
      return r;
    };

    const [mailFromSpf, heloSpf]: [SPFResult | Error | typeof TIMED_OUT, SPFResult | Error | typeof TIMED_OUT | undefined] = spfs === TIMED_OUT ? [TIMED_OUT, TIMED_OUT] : spfs;
    const spfMailFrom = note(spfResult(mailFromSpf, 'smtp.mailfrom', this.identity.sender || `postmaster@${this.identity.helo}`));
    if (heloSpf !== undefined) results.push(spfResult(heloSpf, 'smtp.helo', this.identity.helo));
    const spfPassDomain = spfMailFrom.result === 'pass' && typeof mailFromSpf === 'object' && !(mailFromSpf instanceof Error) ? mailFromSpf.domain : undefined;

    if (dkim === TIMED_OUT || dkim instanceof Error) {
      const tooLarge = this.headerTooLarge;
      note({ method: 'dkim', result: tooLarge ? 'permerror' : 'temperror', comment: tooLarge ? 'header section too large to check' : describe(dkim), properties: [] });
      note({ method: 'dmarc', result: tooLarge ? 'permerror' : 'temperror', comment: 'DKIM could not be checked', properties: [] });
      return { results, dmarc: { result: tooLarge ? 'permerror' : 'temperror' }, spfPassDomain, temporaryFailure };
    }

    const signatures = dkim.results ?? [];
    if (signatures.length === 0) results.push({ method: 'dkim', result: 'none', properties: [] });
    for (const signature of signatures) {
      const result = note(fromStatus('dkim', signature.status));
      // A body length limit (l=) that leaves content unsigned: what follows it could have been added by
      // anyone (RFC 6376 §8.2). Not a pass here, and not counted for DMARC (RFC 8601's "policy").
      if (result.result === 'pass' && signature.status.underSized) {
        result.result = 'policy';
        result.comment = `body length limit (l=) leaves ${signature.status.underSized} bytes unsigned`;
      }
    }

    let arcResult: ARCResult | undefined;
    if (dkim.arc) {
      const verified = await within(settle(arc(dkim.arc as never, { resolver: this.options.lookup })), left());
      if (verified === TIMED_OUT || verified instanceof Error) note({ method: 'arc', result: 'temperror', comment: describe(verified), properties: [] });
      else {
        arcResult = verified;
        note(fromStatus('arc', verified.status));
      }
    }

    const from = dkim.headerFrom ?? [];
    if (from.length !== 1) {
      results.push({ method: 'dmarc', result: 'none', comment: `${from.length === 0 ? 'no' : 'more than one'} From: address`, properties: [] });
      return { results, dmarc: { result: 'none' }, spfPassDomain, temporaryFailure };
    }
    const authorDomain = from[0]!.split('@').pop()!.toLowerCase();
    const evaluated = await within(
      settle(
        dmarc({
          headerFrom: from[0]!,
          spfDomains: spfPassDomain ? [spfPassDomain] : [],
          dkimDomains: signatures
            .filter((s) => s.status.result === 'pass' && !s.status.underSized)
            .map((s) => ({ id: s.id, domain: s.signingDomain, aligned: s.status.aligned, underSized: s.status.underSized })),
          arcResult,
          resolver: this.options.lookup,
        }),
      ),
      left(),
    );
    if (evaluated === TIMED_OUT || evaluated instanceof Error || evaluated === false) {
      note({ method: 'dmarc', result: 'temperror', comment: evaluated === false ? 'not evaluated' : describe(evaluated), properties: [['header.from', authorDomain]] });
      return { results, authorDomain, dmarc: { result: 'temperror' }, spfPassDomain, temporaryFailure };
    }
    note(fromStatus('dmarc', evaluated.status));
    const published = evaluated.status.result === 'none' || evaluated.status.result === 'temperror' ? undefined : evaluated.policy?.toLowerCase();
    return {
      results,
      authorDomain,
      dmarc: { result: evaluated.status.result, policy: published === 'reject' || published === 'quarantine' || published === 'none' ? published : undefined },
      spfPassDomain,
      temporaryFailure,
    };
  }
}

function spfResult(outcome: SPFResult | Error | typeof TIMED_OUT, property: 'smtp.mailfrom' | 'smtp.helo', identity: string): MethodResult {
  if (outcome === TIMED_OUT || outcome instanceof Error) {
    const result = outcome instanceof Error && outcome.message === 'no identity to check' ? 'none' : 'temperror';
    return { method: 'spf', result, comment: describe(outcome), properties: [[property, identity]] };
  }
  return { method: 'spf', result: outcome.status.result, comment: outcome.status.comment, properties: [[property, identity]] };
}

/** A mailauth status as a resinfo: its ptype objects (smtp, header, body, policy) become properties. */
function fromStatus(method: MethodResult['method'], authStatus: AuthStatus): MethodResult {
  const status = authStatus as AuthStatus & Record<string, unknown>;
  const properties: [string, string][] = [];
  for (const ptype of ['smtp', 'header', 'body', 'policy']) {
    const values = status[ptype];
    if (!values || typeof values !== 'object') continue;
    for (const [name, value] of Object.entries(values)) if (value) properties.push([`${ptype}.${name}`, String(value)]);
  }
  return { method, result: status.result === 'temperr' ? 'temperror' : status.result, comment: typeof status.comment === 'string' ? status.comment : undefined, properties };
}

const describe = (outcome: Error | typeof TIMED_OUT) => (outcome === TIMED_OUT ? 'timed out' : outcome.message);

const settle = <T>(promise: Promise<T>): Promise<T | Error> => promise.catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));

function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), ms)))]).finally(() => clearTimeout(timer));
}

const isDomainName = (name: string) => /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+\.?$/.test(name);
