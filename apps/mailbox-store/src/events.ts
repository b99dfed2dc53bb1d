// The events mailbox-store reports, in one catalogue: each becomes one JSON log line (with the queue
// id when there is one). Names are decided here once.
import type { Logger } from 'pino';
import { countDeliveryJob, DELIVERY_JOB_EVENT_LINES, EventLog, type DeliveryJobEvent, type EventCatalogue } from '@mail/platform';

export type MailboxEvent =
  | { event: 'delivered'; queueId: string; mailbox: string; uidl: string; duplicate: boolean }
  | { event: 'logins-locked'; keyKind: string; clientAddress: string; account: string; service: string; failures: number; lockMs: number }
  | { event: 'auth-records-cleared'; clientAddress: string; account: string; cleared: number }
  | { event: 'rpc-failed'; rpc: string; error: string }
  /** A job of the local lane, done: its result is on its way to queue-manager. */
  | DeliveryJobEvent;

const CATALOGUE: EventCatalogue<MailboxEvent> = {
  delivered: { level: 'info', message: 'delivered' },
  'logins-locked': { level: 'warn', message: 'failed logins: locked' },
  'auth-records-cleared': { level: 'warn', message: 'failed logins: cleared by an operator' },
  'rpc-failed': { level: 'error', message: 'rpc failed' },
  ...DELIVERY_JOB_EVENT_LINES,
};

export class MailboxEvents extends EventLog<MailboxEvent> {
  constructor(logger: Logger) {
    super(logger, CATALOGUE, (event) => {
      if (event.event === 'job-done') countDeliveryJob(event.domain, event.results, event.seconds);
    });
  }
}
