// The events delivery-agent reports, in one catalogue. Each becomes one JSON log line that carries the
// queue id, and where it counts something, a metric: names and labels are decided here once.
import type { Logger } from 'pino';
import { countDeliveryJob, DELIVERY_JOB_EVENT_LINES, EventLog, type DeliveryJobEvent, type EventCatalogue } from '@mail/platform';
import type { ReportPostOutcome } from './mta-sts/report-sender.js';

export type DeliveryEvent =
  | DeliveryJobEvent
  | { event: 'remote-transaction'; queueId: string; host: string; port: number; outcomes: string[] }
  | { event: 'remote-host-failed'; queueId: string; host: string; port: number; reason: string }
  /** A remote job named recipients the ledger says an earlier attempt answered for good, or another attempt is delivering now. */
  | { event: 'delivery-repeat-avoided'; queueId: string; jobId: string; answered: string[]; busy: string[] }
  /** The ledger could not record what a remote server answered: a later repeat of the message may reach it again. */
  | { event: 'delivery-ledger-unwritten'; queueId: string; reason: string }
  /** What MTA-STS or REQUIRETLS asked of a remote job (not logged when neither applies). */
  | { event: 'transport-security'; queueId: string; domain: string; policy: string; refusal?: string }
  /** A TLS-RPT report post to an https: rua (RFC 8460 §5.3): taken, failed (tried again at `nextAttemptAt`), or given up. */
  | { event: 'tlsrpt-posted'; domain: string; day: string; url: string; attempts: number }
  | { event: 'tlsrpt-post-failed'; domain: string; day: string; url: string; attempts: number; reason: string; nextAttemptAt: string }
  | { event: 'tlsrpt-post-abandoned'; domain: string; day: string; url: string; attempts: number; reason: string };

const CATALOGUE: EventCatalogue<DeliveryEvent> = {
  ...DELIVERY_JOB_EVENT_LINES,
  'remote-transaction': { level: 'info', message: 'remote transaction done' },
  'remote-host-failed': { level: 'warn', message: 'remote host failed' },
  'delivery-repeat-avoided': { level: 'info', message: 'recipients of a repeated job not sent to again (delivery ledger)' },
  'delivery-ledger-unwritten': { level: 'warn', message: 'remote delivery not recorded in the delivery ledger' },
  'transport-security': { level: 'info', message: 'transport security decided (MTA-STS, REQUIRETLS)' },
  'tlsrpt-posted': { level: 'info', message: 'TLS-RPT report posted' },
  'tlsrpt-post-failed': { level: 'warn', message: 'TLS-RPT report post failed; will be tried again' },
  'tlsrpt-post-abandoned': { level: 'error', message: 'TLS-RPT report post given up; the report is not sent to this address' },
};

/** The event of one report post attempt's end. */
export function reportPostEvent(attempt: ReportPostOutcome): DeliveryEvent {
  const { day, policyDomain: domain, url, attempts, nextAttemptAt } = attempt.post;
  if (attempt.outcome === 'posted') return { event: 'tlsrpt-posted', domain, day, url, attempts };
  if (attempt.outcome === 'failed') return { event: 'tlsrpt-post-failed', domain, day, url, attempts, reason: attempt.reason, nextAttemptAt: new Date(nextAttemptAt).toISOString() };
  return { event: 'tlsrpt-post-abandoned', domain, day, url, attempts, reason: attempt.reason };
}

export class DeliveryEvents extends EventLog<DeliveryEvent> {
  constructor(logger: Logger) {
    super(logger, CATALOGUE, (event) => {
      if (event.event === 'job-done') countDeliveryJob(event.domain, event.results, event.seconds);
    });
  }
}
