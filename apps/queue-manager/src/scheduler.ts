// What queue-manager does with each event: the seed's "Basic Steps", with retries and bounces.
// An accepted message becomes a queue entry with one destination per recipient; due destinations
// go out as delivery jobs grouped by domain; each result settles destinations (delivered, failed) or
// defers them on the retry schedule; failures are reported to the sender once; when no destination
// is pending the message leaves the queue. Every step is idempotent, so a redelivered event changes
// nothing twice, and the queue's state lives in JetStream (KV + a timer stream), not in memory.
import type { ObjectStore } from '@nats-io/obj';
import {
  DELIVERY_STREAM,
  deliverySubject,
  encodePayload,
  SCHEDULE_STREAM,
  scheduleSubject,
  type AcceptedMessage,
  type Destination,
  type DeliveryJob,
  type DeliveryResult,
  type QueueEntry,
  type ScheduleTick,
} from '@mail/contracts';
import { RetryLater, type NatsContext } from '@mail/platform';
import { buildNotice, type Notice } from './bounces.js';
import type { QueueEvents } from './events.js';
import type { QueueStore } from './queue-store.js';
import type { RetrySchedule } from './retry-schedule.js';

export interface QueueSettings {
  schedule: RetrySchedule;
  /** Warn the sender once when a message is still undelivered after this long; 0 = never. */
  delayWarningMs: number;
  /** The name in DSNs (Reporting-MTA) and their From: MAILER-DAEMON@name. */
  reportingMta: string;
}

const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();
/** A tick slightly early still counts: timers are not exact. */
const DUE_SLACK_MS = 250;

/** Groups the due pending destinations by domain (and attempt count): one job, one transaction each. */
export function planJobs(entry: QueueEntry, now = Number.POSITIVE_INFINITY): DeliveryJob[] {
  const groups = new Map<string, { domain: string; attempts: number; recipients: string[] }>();
  for (const destination of entry.destinations) {
    if (destination.state !== 'pending' || destination.nextAttemptAt > now) continue;
    const domain = domainOf(destination.recipient);
    const key = `${domain}.${destination.attempts}`;
    const group = groups.get(key) ?? { domain, attempts: destination.attempts, recipients: [] };
    group.recipients.push(destination.recipient);
    groups.set(key, group);
  }
  return [...groups.values()].map((group) => ({
    queueId: entry.queueId,
    // The attempt number makes each retry a new job, and a repeat of the same attempt a duplicate.
    jobId: `${entry.queueId}.${group.domain}.${group.attempts}`,
    sender: entry.sender,
    recipients: group.recipients,
    smtputf8: entry.smtputf8,
    domain: group.domain,
  }));
}

const pendingOf = (entry: QueueEntry) => entry.destinations.filter((d) => d.state === 'pending');

export class Scheduler {
  constructor(
    private readonly nats: NatsContext,
    private readonly queue: QueueStore,
    private readonly spool: ObjectStore,
    private readonly settings: QueueSettings,
    private readonly events: QueueEvents,
    private readonly now: () => number = Date.now,
  ) {}

  async onAccepted(message: AcceptedMessage): Promise<void> {
    const entry = newEntry(message.queueId, message.sender, message.recipients, message.size, message.receivedAt, message.smtputf8);
    const created = await this.queue.create(entry);
    const current = created ? entry : (await this.queue.get(message.queueId))?.entry;
    if (!current) return; // already delivered and removed: a late redelivery
    await this.dispatch(current);
    this.events.emit({ event: 'message-queued', queueId: entry.queueId, destinations: entry.destinations.length, created });
  }

  async onResult(result: DeliveryResult): Promise<void> {
    for (;;) {
      const found = await this.queue.get(result.queueId);
      if (!found) return; // the entry is gone: a repeated result
      const entry = structuredClone(found.entry);
      const now = this.now();
      for (const outcome of result.results) {
        const destination = entry.destinations.find((d) => d.recipient === outcome.recipient && d.state === 'pending');
        if (!destination) continue;
        destination.attempts++;
        destination.lastReply = outcome.reply ?? '';
        destination.lastAttemptAt = now;
        destination.remoteMta = outcome.remoteMta ?? '';
        if (outcome.outcome === 'delivered') destination.state = 'delivered';
        else if (outcome.outcome === 'permanent') destination.state = 'failed';
        else if (this.settings.schedule.expired(entry.receivedAt, now)) {
          destination.state = 'failed';
          destination.lastReply = `4.4.7 message expired in the queue; last error: ${destination.lastReply}`;
        } else destination.nextAttemptAt = now + this.settings.schedule.delayAfter(destination.attempts);
      }
      await this.sendNotices(entry, now);
      if (!(await this.queue.replace(entry, found.revision))) continue; // changed meanwhile: redo on the new state
      for (const outcome of result.results) {
        const destination = entry.destinations.find((d) => d.recipient === outcome.recipient)!;
        const base = { queueId: result.queueId, recipient: outcome.recipient, reply: destination.lastReply };
        if (destination.state === 'delivered') this.events.emit({ event: 'destination-delivered', ...base });
        else if (destination.state === 'failed') this.events.emit({ event: 'destination-failed', ...base });
        else this.events.emit({ event: 'destination-deferred', ...base, nextAttemptAt: destination.nextAttemptAt });
      }
      await this.settle(entry);
      return;
    }
  }

  async onTick(tick: ScheduleTick): Promise<void> {
    const found = await this.queue.get(tick.queueId);
    if (!found || found.entry.held) return; // done, or waiting for an operator's release
    const now = this.now();
    await this.dispatch(found.entry, now);
    const future = pendingOf(found.entry).filter((d) => d.nextAttemptAt > now + DUE_SLACK_MS);
    if (future.length > 0) throw new RetryLater(Math.min(...future.map((d) => d.nextAttemptAt)) - now);
  }

  /** After a change: remove a finished message, or make sure the next attempt is scheduled. */
  private async settle(entry: QueueEntry): Promise<void> {
    if (pendingOf(entry).length === 0) {
      // Spool first, entry last: if we crash in between, the redelivered event finds the entry and finishes.
      await this.spool.delete(entry.queueId).catch(() => undefined);
      await this.queue.remove(entry.queueId);
      this.events.emit({ event: 'message-removed', queueId: entry.queueId });
      return;
    }
    await this.dispatch(entry);
    if (!entry.held) await this.scheduleTick(entry);
  }

  /** Publishes the jobs of the due destinations (none while held). */
  private async dispatch(entry: QueueEntry, now = this.now()): Promise<void> {
    if (entry.held) return;
    for (const job of planJobs(entry, now + DUE_SLACK_MS)) {
      // The message id makes a republish after a crash a no-op within the stream's duplicate window;
      // beyond it, delivery itself is idempotent.
      await this.nats.js.publish(deliverySubject(job.queueId), encodePayload(job), { msgID: job.jobId, expect: { streamName: DELIVERY_STREAM } });
    }
  }

  private async scheduleTick(entry: QueueEntry): Promise<void> {
    const future = pendingOf(entry).filter((d) => d.nextAttemptAt > this.now());
    if (future.length === 0) return;
    const dueAt = Math.min(...future.map((d) => d.nextAttemptAt));
    const tick: ScheduleTick = { queueId: entry.queueId, dueAt };
    await this.nats.js.publish(scheduleSubject(entry.queueId), encodePayload(tick), {
      msgID: `${entry.queueId}.tick.${dueAt}`,
      expect: { streamName: SCHEDULE_STREAM },
    });
  }

  /** Failure notices for newly failed destinations, and the one-time delay warning. Marks them in `entry`. */
  private async sendNotices(entry: QueueEntry, now: number): Promise<void> {
    const failed = entry.destinations.filter((d) => d.state === 'failed' && !d.bounced);
    const warnDelay =
      !entry.delayWarned && this.settings.delayWarningMs > 0 && now - entry.receivedAt >= this.settings.delayWarningMs && pendingOf(entry).length > 0;
    if (failed.length === 0 && !warnDelay) return;
    const original = entry.sender === '' ? null : await this.spool.getBlob(entry.queueId);
    if (failed.length > 0) {
      await this.queueNotice(entry, failed, 'failed', original, now);
      for (const d of failed) d.bounced = true;
    }
    if (warnDelay) {
      await this.queueNotice(entry, pendingOf(entry), 'delayed', original, now);
      entry.delayWarned = true;
    }
  }

  private async queueNotice(entry: QueueEntry, destinations: Destination[], action: 'failed' | 'delayed', original: Uint8Array | null, now: number): Promise<void> {
    if (entry.sender === '') {
      // RFC 5321 §4.5.5: never a notice about a message from <> (a bounce must not bounce).
      this.events.emit({ event: 'notice-suppressed', queueId: entry.queueId, recipients: destinations.map((d) => d.recipient) });
      return;
    }
    const notice = buildNotice({
      entry,
      destinations,
      action,
      reportingMta: this.settings.reportingMta,
      originalMessage: original ?? new Uint8Array(),
      willRetryUntil: new Date(entry.receivedAt + this.settings.schedule.maxLifetimeMs),
      now: new Date(now),
    });
    if (notice) await this.enqueueNotice(notice, entry.queueId);
  }

  private async enqueueNotice(notice: Notice, bounceOf: string): Promise<void> {
    await this.spool.putBlob({ name: notice.queueId }, notice.message);
    const entry = newEntry(notice.queueId, '', [notice.recipient], notice.message.length, this.now(), false, bounceOf);
    const created = await this.queue.create(entry);
    const current = created ? entry : (await this.queue.get(notice.queueId))?.entry;
    if (current) await this.dispatch(current);
    if (created) this.events.emit({ event: 'notice-queued', queueId: notice.queueId, bounceOf, recipient: notice.recipient });
  }

  // Administration (mailctl queue ...).

  async list(): Promise<QueueEntry[]> {
    return (await this.queue.list()).sort((a, b) => a.receivedAt - b.receivedAt);
  }

  async show(queueId: string): Promise<QueueEntry | undefined> {
    return (await this.queue.get(queueId))?.entry;
  }

  /** Attempt now: clears the wait of every pending destination. Returns the entries changed. */
  async retry(queueIds: string[]): Promise<number> {
    let affected = 0;
    for (const queueId of queueIds) {
      const entry = await this.queue.update(queueId, (e) => {
        for (const d of pendingOf(e)) d.nextAttemptAt = 0;
        return e;
      });
      if (!entry) continue;
      affected++;
      this.events.emit({ event: 'postmaster-action', queueId, action: 'retry' });
      await this.dispatch(entry);
    }
    return affected;
  }

  async hold(queueId: string, held: boolean): Promise<number> {
    const entry = await this.queue.update(queueId, (e) => ({ ...e, held }));
    if (!entry) return 0;
    this.events.emit({ event: 'postmaster-action', queueId, action: held ? 'hold' : 'release' });
    if (!held) await this.settle(entry);
    return 1;
  }

  async delete(queueId: string, bounce: boolean): Promise<number> {
    const found = await this.queue.get(queueId);
    if (!found) return 0;
    const entry = structuredClone(found.entry);
    if (bounce) {
      const pending = pendingOf(entry);
      for (const d of pending) {
        d.state = 'failed';
        d.lastReply = `5.0.0 deleted from the queue by the postmaster${d.lastReply ? `; last error: ${d.lastReply}` : ''}`;
      }
      await this.sendNotices(entry, this.now());
    }
    await this.spool.delete(queueId).catch(() => undefined);
    await this.queue.remove(queueId);
    this.events.emit({ event: 'postmaster-action', queueId, action: bounce ? 'delete-with-bounce' : 'delete' });
    return 1;
  }
}

function newEntry(queueId: string, sender: string, recipients: string[], size: number, receivedAt: number, smtputf8: boolean, bounceOf = ''): QueueEntry {
  return {
    queueId,
    sender,
    size,
    receivedAt,
    smtputf8,
    held: false,
    delayWarned: false,
    bounceOf,
    destinations: recipients.map((recipient) => ({
      recipient,
      state: 'pending',
      attempts: 0,
      lastReply: '',
      nextAttemptAt: 0,
      lastAttemptAt: 0,
      remoteMta: '',
      bounced: false,
    })),
  };
}
