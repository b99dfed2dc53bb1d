// One delivery job: read the message from the spool, deliver to each recipient, report the results.
// A temporary failure of any recipient sends the whole job back for a later retry (delivered
// recipients are not stored twice: Deliver is idempotent by queue id and recipient).
import type { Logger } from 'pino';
import type { ObjectStore } from '@nats-io/obj';
import { encodePayload, resultSubject, RESULT_STREAM, type DeliveryJob, type DeliveryResult } from '@mail/contracts';
import type { NatsContext } from '@mail/platform';
import type { LocalDelivery } from './local-delivery.js';

export class TemporaryDeliveryFailure extends Error {}

export class DeliveryWorker {
  constructor(
    private readonly nats: NatsContext,
    private readonly spool: ObjectStore,
    private readonly local: LocalDelivery,
    private readonly logger: Logger,
  ) {}

  async handle(job: DeliveryJob, deliveryCount: number): Promise<void> {
    const message = await this.spool.getBlob(job.queueId);
    if (!message) {
      // Only queue-manager removes spooled bytes, and only once every destination is settled:
      // this job is a stale redelivery.
      this.logger.info({ queueId: job.queueId, jobId: job.jobId }, 'message no longer queued; job dropped');
      return;
    }
    const results = [];
    for (const recipient of job.recipients) {
      results.push(await this.local.deliver(job.queueId, job.sender, recipient, message));
    }
    const temporary = results.filter((r) => r.outcome === 'temporary');
    if (temporary.length > 0) {
      throw new TemporaryDeliveryFailure(`${temporary.length} recipient(s) deferred (attempt ${deliveryCount}): ${temporary[0]!.reply}`);
    }
    const result: DeliveryResult = { queueId: job.queueId, jobId: job.jobId, results };
    await this.nats.js.publish(resultSubject(job.queueId), encodePayload(result), {
      msgID: `${job.jobId}.result`,
      expect: { streamName: RESULT_STREAM },
    });
    this.logger.info({ queueId: job.queueId, jobId: job.jobId, recipients: results.length }, 'job done');
  }
}
