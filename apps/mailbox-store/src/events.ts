// The events mailbox-store reports, in one catalogue: each becomes one JSON log line (with the queue
// id when there is one). Names are decided here once.
import type { Logger } from 'pino';
import type { RecipientResult } from '@mail/contracts';
import { countDeliveryJob, EventLog, type EventCatalogue } from '@mail/platform';

export type MailboxEvent =
  | { event: 'delivered'; queueId: string; mailbox: string; uidl: string; duplicate: boolean }
  | { event: 'logins-locked'; keyKind: string; clientAddress: string; account: string; service: string; failures: number; lockMs: number }
  | { event: 'auth-records-cleared'; clientAddress: string; account: string; cleared: number }
  | { event: 'rpc-failed'; rpc: string; error: string }
  /** A job of the local lane, done: its result is on its way to queue-manager. */
  | { event: 'job-done'; queueId: string; jobId: string; domain: string; results: RecipientResult[]; seconds: number }
  | { event: 'job-dropped'; queueId: string; jobId: string };

const CATALOGUE: EventCatalogue<MailboxEvent> = {
  delivered: { level: 'info', message: 'delivered' },
  'logins-locked': { level: 'warn', message: 'failed logins: locked' },
  'auth-records-cleared': { level: 'warn', message: 'failed logins: cleared by an operator' },
  'rpc-failed': { level: 'error', message: 'rpc failed' },
  'job-done': { level: 'info', message: 'job done' },
  'job-dropped': { level: 'warn', message: 'message bytes not in the spool; reported to queue-manager' },
};

export class MailboxEvents extends EventLog<MailboxEvent> {
  constructor(logger: Logger) {
    super(logger, CATALOGUE, (event) => {
      if (event.event === 'job-done') countDeliveryJob(event.domain, event.results, event.seconds);
    });
  }
}
