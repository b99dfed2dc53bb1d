// Remote delivery: route the job's domain, then try its hosts in order until one settles the
// recipients; connection-level failures back the host (and, when every host failed, the domain) off.
// Which hosts may be tried and with what TLS is TransportSecurity's decision (MTA-STS, REQUIRETLS).
import type { LookupFunction } from 'node:net';
import type { DeliveryEvents } from './events.js';
import type { RecipientResult } from '@mail/contracts';
import { route, type Hop, type MxResolver } from './routing.js';
import { deliverToHost, HostFailure, type SmtpTimeouts, type TlsPolicy, type TransactionRequest } from './smtp-client/transaction.js';
import type { DomainBackoff } from './shared-limits.js';
import type { Throttle } from './throttle.js';
import type { SecurityPlan, TransportSecurity } from './mta-sts/transport-security.js';

export interface RemoteDeliveryOptions {
  heloName: string;
  smtpPort: number;
  transports: Map<string, Hop>;
  tlsPolicy: (domain: string) => TlsPolicy;
  /** BDAT to servers that offer CHUNKING (default). */
  chunking?: boolean;
  timeouts: SmtpTimeouts;
  /** Resolves MX host names (the configured resolver); default: the system's. */
  lookup?: LookupFunction;
}

export interface RemoteJob {
  queueId: string;
  domain: string;
  sender: string;
  recipients: string[];
  smtputf8: boolean;
  /** Received as BODY=BINARYMIME. */
  binaryMime?: boolean;
  message: Uint8Array;
  /** RFC 8689 REQUIRETLS was asked for at MAIL. */
  requireTls?: boolean;
  /** The DSN request, for a next hop that offers DSN. */
  dsn?: TransactionRequest['dsn'];
}

export class RemoteDelivery {
  constructor(
    private readonly options: RemoteDeliveryOptions,
    private readonly resolver: MxResolver,
    private readonly throttle: Throttle,
    private readonly events: DeliveryEvents,
    /** The domain-level back-off: this process's, or the cluster's (shared-limits.ts). */
    private readonly backoff: DomainBackoff = localDomainBackoff(throttle),
    /** MTA-STS and REQUIRETLS; without it, the configured TLS policy alone. */
    private readonly security?: TransportSecurity,
  ) {}

  async deliver(job: RemoteJob): Promise<RecipientResult[]> {
    const all = (outcome: RecipientResult['outcome'], reply: string, remoteMta = '') =>
      job.recipients.map((recipient) => ({ recipient, outcome, reply, remoteMta }));
    const backedOff = await this.backoff.get(job.domain);
    if (backedOff) return all('temporary', `451 4.4.1 ${job.domain} is backed off after recent failures: ${backedOff}`);

    const destination = await route(job.domain, this.options.transports, this.resolver, this.options.smtpPort);
    if (destination.kind === 'no-mail') return all('permanent', destination.reply);
    if (destination.kind === 'unresolvable') return all(destination.permanent ? 'permanent' : 'temporary', destination.reply);

    const plan = await this.security?.plan({ domain: job.domain, requireTls: job.requireTls ?? false, message: job.message }, destination.hops, destination.configured ?? false);
    if (plan && (plan.label !== 'none' || plan.refusal)) {
      this.events.emit({ event: 'transport-security', queueId: job.queueId, domain: job.domain, policy: plan.label, ...(plan.refusal ? { refusal: plan.refusal.reply } : {}) });
    }
    try {
      if (plan?.refusal) return all(plan.refusal.outcome, plan.refusal.reply);
      return await this.tryHops(job, plan?.hops ?? destination.hops, plan);
    } finally {
      await plan?.finish();
    }
  }

  private async tryHops(job: RemoteJob, hops: Hop[], plan: SecurityPlan | undefined): Promise<RecipientResult[]> {
    const all = (outcome: RecipientResult['outcome'], reply: string, remoteMta = '') =>
      job.recipients.map((recipient) => ({ recipient, outcome, reply, remoteMta }));
    const failures: string[] = [];
    for (const hop of hops) {
      const hostKey = `host:${hop.host}:${hop.port}`;
      const hostBackoff = this.throttle.backedOff(hostKey);
      if (hostBackoff) {
        failures.push(`${hop.host}: backed off (${hostBackoff})`);
        continue;
      }
      const release = await this.throttle.hostSlot(`${hop.host}:${hop.port}`);
      try {
        const outcomes = await deliverToHost({
          host: hop.host,
          port: hop.port,
          serverName: hop.host,
          heloName: this.options.heloName,
          sender: job.sender,
          recipients: job.recipients,
          message: job.message,
          smtputf8: job.smtputf8,
          binaryMime: job.binaryMime ?? false,
          chunking: this.options.chunking ?? true,
          tls: plan?.tls ?? this.options.tlsPolicy(job.domain),
          timeouts: this.options.timeouts,
          lookup: this.options.lookup,
          extraCa: plan?.extraCa,
          requireTls: plan?.requireTls,
          onTls: (session) => plan?.sessionSecured(hop, session),
          ...(job.dsn ? { dsn: job.dsn } : {}),
        });
        this.throttle.clearBackoff(hostKey);
        await this.backoff.clear(job.domain);
        this.events.emit({ event: 'remote-transaction', queueId: job.queueId, host: hop.host, port: hop.port, outcomes: outcomes.map((o) => o.outcome) });
        return outcomes.map((o) => ({ ...o, remoteMta: hop.host }));
      } catch (err) {
        const reason = (err as Error).message;
        failures.push(`${hop.host}: ${reason}`);
        plan?.hostFailed(hop, err);
        this.events.emit({ event: 'remote-host-failed', queueId: job.queueId, host: hop.host, port: hop.port, reason });
        if (err instanceof HostFailure && err.permanent && hops.length === 1) {
          return all('permanent', `550 5.4.0 ${reason}`, hop.host);
        }
        this.throttle.backOff(hostKey, reason);
      } finally {
        release();
      }
    }
    await this.backoff.set(job.domain, failures[0] ?? 'no host reachable');
    const why = plan?.reason ? `${plan.reason}; ` : '';
    return all('temporary', `451 4.4.1 ${why}no host for ${job.domain} took the message: ${failures.join('; ')}`);
  }
}

/** The domain back-off kept in this process's throttle. */
export function localDomainBackoff(throttle: Throttle): DomainBackoff {
  return {
    get: async (domain) => throttle.backedOff(`domain:${domain}`),
    set: async (domain, reason) => throttle.backOff(`domain:${domain}`, reason),
    clear: async (domain) => throttle.clearBackoff(`domain:${domain}`),
  };
}
