// What queue-manager does with each event: the seed's "Basic Steps". An accepted message becomes a
// queue entry with one destination per recipient and delivery jobs grouped by domain; each result
// settles its destinations; when none is pending the message leaves the queue. Every step is
// idempotent, so a redelivered event changes nothing twice.
import type { Logger } from 'pino';
import {
  DELIVERY_STREAM,
  deliverySubject,
  encodePayload,
  type AcceptedMessage,
  type DeliveryJob,
  type DeliveryResult,
  type QueueEntry,
} from '@mail/contracts';
import type { NatsContext } from '@mail/platform';
import type { QueueStore } from './queue-store.js';

export interface SpoolCleaner {
  delete(queueId: string): Promise<void>;
}

const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

/** Groups recipients by domain: one delivery job (one transaction, later one connection) per group. */
export function planJobs(entry: QueueEntry): DeliveryJob[] {
  const groups = new Map<string, string[]>();
  for (const destination of entry.destinations) {
    if (destination.state !== 'pending') continue;
    const domain = domainOf(destination.recipient);
    groups.set(domain, [...(groups.get(domain) ?? []), destination.recipient]);
  }
  return [...groups.entries()].map(([domain, recipients]) => ({
    queueId: entry.queueId,
    jobId: `${entry.queueId}.${domain}`,
    sender: entry.sender,
    recipients,
    smtputf8: entry.smtputf8,
  }));
}

export class Scheduler {
  constructor(
    private readonly nats: NatsContext,
    private readonly queue: QueueStore,
    private readonly spool: SpoolCleaner,
    private readonly logger: Logger,
  ) {}

  async onAccepted(message: AcceptedMessage): Promise<void> {
    const entry: QueueEntry = {
      queueId: message.queueId,
      sender: message.sender,
      size: message.size,
      receivedAt: message.receivedAt,
      smtputf8: message.smtputf8,
      destinations: message.recipients.map((recipient) => ({ recipient, state: 'pending', attempts: 0, lastReply: '' })),
    };
    const created = await this.queue.create(entry);
    const current = created ? entry : (await this.queue.get(message.queueId))?.entry;
    if (!current) return; // already delivered and removed: this was a late redelivery
    for (const job of planJobs(current)) {
      // The message id makes a republish after a crash a no-op within the stream's duplicate window;
      // beyond it, delivery itself is idempotent.
      await this.nats.js.publish(deliverySubject(job.queueId), encodePayload(job), { msgID: job.jobId, expect: { streamName: DELIVERY_STREAM } });
    }
    this.logger.info({ queueId: entry.queueId, destinations: entry.destinations.length, created }, 'queued');
  }

  async onResult(result: DeliveryResult): Promise<void> {
    const updated = await this.queue.update(result.queueId, (entry) => {
      for (const outcome of result.results) {
        const destination = entry.destinations.find((d) => d.recipient === outcome.recipient);
        if (!destination || destination.state !== 'pending') continue;
        destination.attempts++;
        destination.lastReply = outcome.reply;
        if (outcome.outcome === 'delivered') destination.state = 'delivered';
        else if (outcome.outcome === 'permanent') destination.state = 'failed';
      }
      return entry;
    });
    if (!updated) return; // the entry is gone: a repeated result
    for (const outcome of result.results) {
      const log = { queueId: result.queueId, recipient: outcome.recipient, outcome: outcome.outcome, reply: outcome.reply };
      if (outcome.outcome === 'delivered') this.logger.info(log, 'destination delivered');
      else this.logger.warn(log, 'destination not delivered');
    }
    if (updated.destinations.every((d) => d.state !== 'pending')) {
      // Spool first, entry last: if we crash in between, the redelivered result finds the entry and finishes.
      await this.spool.delete(result.queueId);
      await this.queue.remove(result.queueId);
      this.logger.info({ queueId: result.queueId }, 'message removed from queue');
    }
  }
}
