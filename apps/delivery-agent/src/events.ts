// The events delivery-agent reports, in one catalogue. Each becomes one JSON log line that carries the
// queue id, and where it counts something, a metric: names and labels are decided here once.
import type { Logger } from 'pino';
import { EventLog, type EventCatalogue } from '@mail/platform';
import type { RecipientResult } from '@mail/contracts';
import { deliveryMetrics, OUTCOME_LABEL } from './metrics.js';

export type DeliveryEvent =
  | { event: 'job-done'; queueId: string; jobId: string; domain: string; results: RecipientResult[]; seconds: number }
  | { event: 'job-dropped'; queueId: string; jobId: string }
  | { event: 'remote-transaction'; queueId: string; host: string; port: number; outcomes: string[] }
  | { event: 'remote-host-failed'; queueId: string; host: string; port: number; reason: string }
  /** What MTA-STS or REQUIRETLS asked of a remote job (not logged when neither applies). */
  | { event: 'transport-security'; queueId: string; domain: string; policy: string; refusal?: string };

const CATALOGUE: EventCatalogue<DeliveryEvent> = {
  'job-done': { level: 'info', message: 'job done' },
  'job-dropped': { level: 'warn', message: 'message bytes not in the spool; reported to queue-manager' },
  'remote-transaction': { level: 'info', message: 'remote transaction done' },
  'remote-host-failed': { level: 'warn', message: 'remote host failed' },
  'transport-security': { level: 'info', message: 'transport security decided (MTA-STS, REQUIRETLS)' },
};

export class DeliveryEvents extends EventLog<DeliveryEvent> {
  constructor(logger: Logger) {
    super(logger, CATALOGUE, (event) => {
      if (event.event === 'job-done') {
        deliveryMetrics.duration.observe(event.seconds);
        for (const r of event.results) deliveryMetrics.deliveries.inc({ outcome: OUTCOME_LABEL[r.outcome], domain: event.domain });
      }
    });
  }
}
