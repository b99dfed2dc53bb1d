// Remote delivery: route the job's domain, then try its hosts in order until one settles the
// recipients; connection-level failures back the host (and, when every host failed, the domain) off.
import type { DeliveryEvents } from './events.js';
import type { RecipientResult } from '@mail/contracts';
import { route, type Hop, type MxResolver } from './routing.js';
import { deliverToHost, HostFailure, type SmtpTimeouts, type TlsPolicy, type TransactionRequest } from './smtp-client/transaction.js';
import type { DomainBackoff } from './shared-limits.js';
import type { Throttle } from './throttle.js';

export interface RemoteDeliveryOptions {
  heloName: string;
  smtpPort: number;
  transports: Map<string, Hop>;
  tlsPolicy: (domain: string) => TlsPolicy;
  timeouts: SmtpTimeouts;
}

export interface RemoteJob {
  queueId: string;
  domain: string;
  sender: string;
  recipients: string[];
  smtputf8: boolean;
  message: Uint8Array;
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
  ) {}

  async deliver(job: RemoteJob): Promise<RecipientResult[]> {
    const all = (outcome: RecipientResult['outcome'], reply: string, remoteMta = '') =>
      job.recipients.map((recipient) => ({ recipient, outcome, reply, remoteMta }));
    const backedOff = await this.backoff.get(job.domain);
    if (backedOff) return all('temporary', `451 4.4.1 ${job.domain} is backed off after recent failures: ${backedOff}`);

    const destination = await route(job.domain, this.options.transports, this.resolver, this.options.smtpPort);
    if (destination.kind === 'no-mail') return all('permanent', destination.reply);
    if (destination.kind === 'unresolvable') return all(destination.permanent ? 'permanent' : 'temporary', destination.reply);

    const failures: string[] = [];
    for (const hop of destination.hops) {
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
          tls: this.options.tlsPolicy(job.domain),
          timeouts: this.options.timeouts,
          ...(job.dsn ? { dsn: job.dsn } : {}),
        });
        this.throttle.clearBackoff(hostKey);
        await this.backoff.clear(job.domain);
        this.events.emit({ event: 'remote-transaction', queueId: job.queueId, host: hop.host, port: hop.port, outcomes: outcomes.map((o) => o.outcome) });
        return outcomes.map((o) => ({ ...o, remoteMta: hop.host }));
      } catch (err) {
        const reason = (err as Error).message;
        failures.push(`${hop.host}: ${reason}`);
        this.events.emit({ event: 'remote-host-failed', queueId: job.queueId, host: hop.host, port: hop.port, reason });
        if (err instanceof HostFailure && err.permanent && destination.hops.length === 1) {
          return all('permanent', `550 5.4.0 ${reason}`, hop.host);
        }
        this.throttle.backOff(hostKey, reason);
      } finally {
        release();
      }
    }
    await this.backoff.set(job.domain, failures[0] ?? 'no host reachable');
    return all('temporary', `451 4.4.1 no host for ${job.domain} took the message: ${failures.join('; ')}`);
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
