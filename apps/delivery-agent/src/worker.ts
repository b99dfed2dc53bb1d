// One delivery job: read the message from the spool, deliver it (locally through mailbox-store, or
// to the remote domain's servers), and report a result per recipient to queue-manager.
// Local temporary failures (mailbox-store unreachable) send the job back to JetStream for a quick
// retry; remote outcomes, temporary ones included, go to queue-manager, which owns the retry schedule.
import type { ObjectStore } from '@nats-io/obj';
import { encodePayload, resultSubject, RESULT_STREAM, type DeliveryJob, type DeliveryResult, type RecipientResult } from '@mail/contracts';
import { RetryLater, type NatsContext } from '@mail/platform';
import type { LocalDelivery } from './local-delivery.js';
import type { RemoteDelivery } from './remote-delivery.js';
import type { DeliveryEvents } from './events.js';
import type { SharedDomainRate } from './shared-limits.js';
import type { SharedDomainSlots } from './shared-slots.js';
import type { Throttle } from './throttle.js';

export class TemporaryDeliveryFailure extends Error {}

const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

export class DeliveryWorker {
  constructor(
    private readonly nats: NatsContext,
    private readonly spool: ObjectStore,
    private readonly local: LocalDelivery,
    private readonly remote: RemoteDelivery,
    private readonly throttle: Throttle,
    private readonly events: DeliveryEvents,
    /** Cluster-wide connection slots and message rate per domain; undefined = per-process limits only. */
    private readonly slots?: SharedDomainSlots,
    private readonly rate?: SharedDomainRate,
  ) {}

  async handle(job: DeliveryJob, deliveryCount: number): Promise<void> {
    const domain = job.domain || domainOf(job.recipients[0]!);
    const isLocal = await this.local.isLocalDomain(domain);
    // Wait for the domain's rate window before reading the message: the job stays in JetStream meanwhile.
    if (!isLocal) {
      const perWindow = this.throttle.limitsFor(domain).maxMessagesPerWindow;
      const wait = this.rate ? await this.rate.admit(domain, perWindow) : this.throttle.rateDelay(domain);
      if (wait > 0) throw new RetryLater(wait);
    }
    const message = await this.spool.getBlob(job.queueId);
    if (!message) {
      // Only queue-manager removes spooled bytes, and only once every destination is settled:
      // this job is a stale redelivery.
      this.events.emit({ event: 'job-dropped', queueId: job.queueId, jobId: job.jobId });
      return;
    }
    let results: RecipientResult[];
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    if (isLocal) {
      results = [];
      for (const recipient of job.recipients) results.push(await this.local.deliver(job.queueId, job.sender, recipient, message));
      const temporary = results.filter((r) => r.outcome === 'temporary');
      if (temporary.length > 0) {
        this.events.emit({ event: 'job-deferred-locally', queueId: job.queueId, jobId: job.jobId, domain, deferred: temporary.length, reply: temporary[0]!.reply ?? '', seconds: seconds() });
        throw new TemporaryDeliveryFailure(`${temporary.length} recipient(s) deferred (attempt ${deliveryCount}): ${temporary[0]!.reply}`);
      }
    } else {
      // The domain's connection limit holds for the whole cluster when slots are shared; all busy
      // means the job goes back to JetStream for a moment, and other domains' jobs flow meanwhile.
      const maxConnections = this.throttle.limitsFor(domain).maxConnections;
      const shared = this.slots ? await this.slots.tryAcquire(domain, maxConnections) : undefined;
      if (this.slots && !shared) throw new RetryLater(500 + Math.floor(Math.random() * 1000));
      const localSlot = shared ? undefined : await this.throttle.domainSlot(domain);
      try {
        if (!this.rate) this.throttle.recordSent(domain);
        results = await this.remote.deliver({ queueId: job.queueId, domain, sender: job.sender, recipients: job.recipients, smtputf8: job.smtputf8, message });
      } finally {
        localSlot?.();
        await shared?.();
      }
    }
    const elapsed = seconds();
    const result: DeliveryResult = { queueId: job.queueId, jobId: job.jobId, results };
    await this.nats.js.publish(resultSubject(job.queueId), encodePayload(result), {
      msgID: `${job.jobId}.result`,
      expect: { streamName: RESULT_STREAM },
    });
    this.events.emit({ event: 'job-done', queueId: job.queueId, jobId: job.jobId, domain, results, seconds: elapsed });
  }
}
