// The events queue-manager reports, in one catalogue. Each becomes one JSON log line that carries the
// queue id, and where it counts something, a metric: names and labels are decided here once.
import type { Logger } from 'pino';
import { EventLog, type EventCatalogue } from '@mail/platform';
import { queueMetrics } from './metrics.js';

export type QueueEvent =
  | { event: 'message-queued'; queueId: string; destinations: number; created: boolean }
  | { event: 'destination-delivered'; queueId: string; recipient: string; reply: string }
  | { event: 'destination-deferred'; queueId: string; recipient: string; reply: string; nextAttemptAt: number }
  | { event: 'destination-failed'; queueId: string; recipient: string; reply: string }
  | { event: 'message-removed'; queueId: string }
  | { event: 'notice-queued'; queueId: string; bounceOf: string; recipient: string; action: 'failed' | 'delayed' | 'delivered' | 'relayed'; about: string[]; requireTls: boolean }
  | { event: 'notice-redacted'; queueId: string; noticeOf: string; bounceOf: string; recipient: string; reply: string }
  | { event: 'notice-suppressed'; queueId: string; recipients: string[]; reason: 'null-sender' | 'notify' }
  | { event: 'postmaster-action'; queueId: string; action: 'hold' | 'release' | 'retry' | 'delete' | 'delete-with-bounce' }
  | { event: 'job-lost'; queueId: string; jobId: string; timeoutMs: number }
  | { event: 'late-event-ignored'; queueId: string }
  | { event: 'finished-message-deleted-again'; queueId: string }
  | { event: 'message-recovered'; queueId: string }
  | { event: 'entry-orphaned'; queueId: string; recipients: string[] }
  | { event: 'queue-error'; queueId: string; error: string }
  | { event: 'leadership'; instance: string; role: 'active' | 'standby' | 'lost' };

const CATALOGUE: EventCatalogue<QueueEvent> = {
  'message-queued': { level: 'info', message: 'queued' },
  'destination-delivered': { level: 'info', message: 'destination delivered' },
  'destination-deferred': { level: 'warn', message: 'destination deferred' },
  'destination-failed': { level: 'warn', message: 'destination failed' },
  'message-removed': { level: 'info', message: 'message removed from queue' },
  'notice-queued': { level: 'info', message: 'delivery status notification queued' },
  'notice-redacted': { level: 'warn', message: 'a notice about a REQUIRETLS message could not go with REQUIRETLS; queued again without it and without the original header section (RFC 8689 §5)' },
  'notice-suppressed': { level: 'warn', message: 'not delivered, and no notice sent: null reverse-path (reason null-sender), or NOTIFY without FAILURE (reason notify)' },
  'postmaster-action': { level: 'warn', message: 'queue changed by the postmaster' },
  'job-lost': { level: 'warn', message: 'no result for a delivery job in time; taken as a temporary failure' },
  'late-event-ignored': { level: 'info', message: 'accepted event for a message that already left the queue; ignored' },
  'finished-message-deleted-again': { level: 'warn', message: 'a message that already left the queue was still in the spool (its removal was lost); removed again, not delivered again' },
  'message-recovered': { level: 'warn', message: 'spooled message had no queue entry (missed at takeover, or dropped while the spool was unreadable); planned now' },
  'entry-orphaned': { level: 'error', message: 'queue entry without message bytes in the spool; removed, recipients not delivered' },
  'queue-error': { level: 'error', message: 'queue step failed; will retry' },
  'leadership': { level: 'warn', message: 'queue ownership changed' },
};

export class QueueEvents extends EventLog<QueueEvent> {
  constructor(logger: Logger) {
    super(logger, CATALOGUE, (event) => {
      if (event.event === 'destination-deferred') queueMetrics.retries.inc();
      // Failure reports and delay warnings; the success notices NOTIFY=SUCCESS asks for are not bounces.
      if (event.event === 'notice-queued' && (event.action === 'failed' || event.action === 'delayed')) queueMetrics.bounces.inc();
      if (event.event === 'job-lost') queueMetrics.lostJobs.inc();
    });
  }
}
