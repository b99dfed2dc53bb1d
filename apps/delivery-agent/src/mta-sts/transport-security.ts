// What TLS one remote delivery must have, decided once per job: the recipient domain's MTA-STS policy
// (RFC 8461 §4-§5), the message's REQUIRETLS flag and `TLS-Required: No` header (RFC 8689), and what
// each session got, counted for TLS-RPT (RFC 8460) when the domain asks for reports.
//   enforce  → only MX hosts the policy names, verified TLS, never plaintext; failures are temporary.
//   testing  → delivered as before; what enforce would have refused is counted.
//   none / no policy → delivered as before.
// REQUIRETLS needs an MX list we can trust — no DNSSEC here, so an MTA-STS policy in enforce — verified
// TLS, and a next hop offering REQUIRETLS; otherwise the recipients fail permanently (5.7.30).
import type { DnsLookup } from '@mail/platform';
import type { Hop } from '../routing.js';
import { HostFailure, type TlsPolicy, type TlsSessionReport } from '../smtp-client/transaction.js';
import { mxAllowed, parseTlsRptRecord, type StsPolicy } from './policy.js';
import type { PolicyResult, PolicySource } from './policy-source.js';
import type { TlsPolicyDescription, TlsReportStore, TlsResultType } from './tls-report.js';

export interface SecurityJob {
  domain: string;
  /** The message asked for REQUIRETLS (MAIL FROM parameter, kept in its envelope). */
  requireTls: boolean;
  message: Uint8Array;
}

export type Refusal = { outcome: 'temporary' | 'permanent'; reply: string };

/** The decision for one job, and the place its sessions are reported to. */
export interface SecurityPlan {
  /** What applied, for the log: none, configured, unavailable, testing, enforce (+ requiretls, tls-optional). */
  label: string;
  refusal?: Refusal;
  hops: Hop[];
  /** Overrides the configured TLS policy of the domain. */
  tls?: TlsPolicy;
  extraCa?: string;
  requireTls: boolean;
  /** A reply-text prefix that says why a failed host failed us (e.g. "MTA-STS policy of x (enforce)"). */
  reason?: string;
  sessionSecured(hop: Hop, session: TlsSessionReport): void;
  hostFailed(hop: Hop, err: unknown): void;
  /** Writes what was counted; never throws. */
  finish(): Promise<void>;
}

export interface TransportSecurityOptions {
  /** MTA-STS switched on (DELIVERY_MTA_STS). */
  enabled: boolean;
  extraCa?: string;
}

/** `TLS-Required: No` in the message's header (RFC 8689 §5), unfolded and ignoring case. */
export function tlsRequiredNo(message: Uint8Array): boolean {
  const bytes = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const end = bytes.indexOf('\r\n\r\n');
  const header = bytes.subarray(0, end < 0 ? Math.min(bytes.length, 256 * 1024) : end).toString('latin1').replace(/\r\n[ \t]+/g, ' ');
  return /^TLS-Required[ \t]*:[ \t]*No[ \t]*$/im.test(header);
}

/** RFC 8460 §4.3 result type of a failed TLS session, from Node's error code. */
export function resultTypeOf(code: string | undefined): TlsResultType {
  if (code === 'starttls-not-supported') return 'starttls-not-supported';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'certificate-host-mismatch';
  if (code === 'CERT_HAS_EXPIRED') return 'certificate-expired';
  if (code && /SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE/.test(code)) return 'certificate-not-trusted';
  return 'validation-failure';
}

const describe = (policy: StsPolicy): TlsPolicyDescription => ({
  type: 'sts',
  lines: ['version: STSv1', `mode: ${policy.mode}`, ...policy.mx.map((mx) => `mx: ${mx}`), `max_age: ${policy.maxAge}`],
  mxHosts: policy.mx,
});

export class TransportSecurity {
  constructor(
    private readonly options: TransportSecurityOptions,
    private readonly lookup: DnsLookup,
    private readonly policies: PolicySource,
    private readonly reports?: TlsReportStore,
  ) {}

  /** `configured`: the hops came from the transport map, not from MX records. */
  async plan(job: SecurityJob, hops: Hop[], configured: boolean): Promise<SecurityPlan> {
    const domain = job.domain.toLowerCase();
    // RFC 8689 §5: the header is ignored when REQUIRETLS was asked for.
    const optional = !job.requireTls && tlsRequiredNo(job.message);
    const plain: SecurityPlan = { label: optional ? 'tls-optional' : 'none', hops, requireTls: false, sessionSecured: () => undefined, hostFailed: () => undefined, finish: async () => undefined };
    if (configured) {
      // A smart host or transport entry is the operator's choice, not DNS's: REQUIRETLS still needs verified TLS and the extension.
      return job.requireTls ? { ...plain, label: 'configured+requiretls', tls: 'required', extraCa: this.options.extraCa, requireTls: true } : plain;
    }
    const result: PolicyResult = this.options.enabled && !optional ? await this.policies.policyFor(domain) : { kind: 'none' };
    const rua = result.kind === 'none' ? undefined : await this.reportAddresses(domain);
    const counter = new SessionCounter(domain, rua, this.reports, result.kind === 'policy' ? describe(result.policy) : { type: 'no-policy-found', lines: [], mxHosts: [] });

    if (result.kind === 'unavailable') {
      plain.label = `unavailable (${result.resultType}: ${result.reason})`;
      counter.fail(result.resultType, '', result.reason);
      if (job.requireTls) return { ...plain, refusal: { outcome: 'temporary', reply: `451 4.7.30 REQUIRETLS: the MTA-STS policy of ${domain} cannot be had now (${result.reason})` }, finish: () => counter.flush() };
      return { ...plain, finish: () => counter.flush() };
    }
    if (result.kind === 'none' || result.policy.mode === 'none') {
      if (job.requireTls) return { ...plain, refusal: { outcome: 'permanent', reply: `550 5.7.30 REQUIRETLS: ${domain} has no MTA-STS policy in enforce mode (and DNSSEC is not checked here), so its MX hosts cannot be trusted` } };
      return plain;
    }
    const { policy } = result;
    plain.label = `${policy.mode}${job.requireTls ? '+requiretls' : ''} (policy ${result.id}, ${result.source})`;
    const allowed = hops.filter((hop) => mxAllowed(hop.host, policy.mx));
    const refused = hops.filter((hop) => !mxAllowed(hop.host, policy.mx));
    for (const hop of refused) counter.fail('validation-failure', hop.host, `MX ${hop.host} is not among the policy's mx patterns (${policy.mx.join(', ')})`);

    if (policy.mode === 'testing') {
      if (job.requireTls) return { ...plain, refusal: { outcome: 'permanent', reply: `550 5.7.30 REQUIRETLS: the MTA-STS policy of ${domain} is only in testing mode, so its MX hosts cannot be trusted` }, finish: () => counter.flush() };
      return {
        ...plain,
        // Delivered as before; counted as if enforced (the extra CAs count for "verified" here too).
        extraCa: this.options.extraCa,
        sessionSecured: (hop, session) => {
          if (!allowed.includes(hop)) return;
          if (!session.starttls) counter.fail('starttls-not-supported', hop.host, `${hop.host} does not offer STARTTLS`);
          else if (!session.authorized) counter.fail(resultTypeOf(session.authorizationError), hop.host, `${hop.host}: ${session.authorizationError}`);
          else counter.succeed();
        },
        finish: () => counter.flush(),
      };
    }

    // enforce
    const reason = `MTA-STS policy of ${domain} (enforce) needs verified TLS with an MX it names (${policy.mx.join(', ')})`;
    if (allowed.length === 0) {
      const reply = `451 4.7.5 ${reason}: none of its MX hosts (${hops.map((h) => h.host).join(', ')}) matches`;
      return { ...plain, refusal: { outcome: 'temporary', reply }, finish: () => counter.flush() };
    }
    return {
      label: plain.label,
      hops: allowed,
      tls: 'required',
      extraCa: this.options.extraCa,
      requireTls: job.requireTls,
      reason,
      sessionSecured: (_hop, session) => {
        if (session.starttls && session.authorized) counter.succeed();
      },
      hostFailed: (hop, err) => {
        const code = err instanceof HostFailure ? err.tlsFailure : undefined;
        if (code) counter.fail(resultTypeOf(code), hop.host, (err as Error).message);
      },
      finish: () => counter.flush(),
    };
  }

  /** The domain's TLS-RPT report addresses, or undefined (no record, or DNS trouble: nothing is counted). */
  private async reportAddresses(domain: string): Promise<string[] | undefined> {
    if (!this.reports) return undefined;
    try {
      return parseTlsRptRecord(await this.lookup(`_smtp._tls.${domain}`, 'TXT'));
    } catch {
      return undefined;
    }
  }
}

/** The sessions of one job, written to the report store at its end (only for a domain with a TLS-RPT record). */
class SessionCounter {
  private readonly sessions: { failure?: { resultType: TlsResultType; receivingMxHostname: string; detail: string } }[] = [];
  constructor(
    private readonly domain: string,
    private readonly rua: string[] | undefined,
    private readonly store: TlsReportStore | undefined,
    private readonly policy: TlsPolicyDescription,
  ) {}
  succeed(): void {
    this.sessions.push({});
  }
  fail(resultType: TlsResultType, receivingMxHostname: string, detail: string): void {
    this.sessions.push({ failure: { resultType, receivingMxHostname, detail } });
  }
  async flush(): Promise<void> {
    if (!this.store || !this.rua) return;
    for (const session of this.sessions.splice(0)) {
      await this.store.record({ policyDomain: this.domain, policy: this.policy, rua: this.rua, ...session }).catch(() => undefined);
    }
  }
}
