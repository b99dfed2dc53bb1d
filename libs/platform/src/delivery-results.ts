// What every deliverer of jobs shares (delivery-agent for the remote lane, mailbox-store for the local
// one): the course of one job (spool read, delivery, result), how a remote job's result goes back to
// queue-manager (a local one goes back in the answer to its request: mailbox-store's local-lane.ts),
// how a mailbox-store answer becomes a recipient's result, and the delivery metrics
// (deploy/observability/METRICS.md), whichever process delivered.
import { Counter, Histogram } from 'prom-client';
import {
  approximateBytes,
  batchMessageId,
  decodeJobBatch,
  encodePayload,
  MAX_BATCH_BYTES,
  MAX_BATCH_ITEMS,
  resultSubject,
  RESULT_STREAM,
  type AcceptedMessage,
  type DeliveryItemReply,
  type DeliveryJob,
  type DeliveryResult,
  type RecipientResult,
} from '@mail/contracts';
import { Batcher } from './batcher.js';
import { grpc } from './grpc.js';
import { registry } from './metrics.js';
import { runConsumer, type ConsumerOptions, type NatsContext } from './nats.js';
import { Semaphore } from './semaphore.js';
import type { Spool } from './spool.js';

/**
 * Results for queue-manager. Those of the moment leave together, one broker message for many jobs; a
 * job's result is reported whatever happened, because queue-manager counts the job against its
 * destination until it comes.
 */
export class ResultReporter {
  private readonly results = new Batcher((results: DeliveryResult[]) => this.publish(results), {
    maxItems: MAX_BATCH_ITEMS,
    maxCalls: 4,
    maxBytes: MAX_BATCH_BYTES,
    sizeOf: approximateBytes,
  });

  constructor(private readonly nats: NatsContext) {}

  /** Resolves once JetStream has the result. */
  report(result: DeliveryResult): Promise<void> {
    return this.results.add(result);
  }

  private async publish(results: DeliveryResult[]): Promise<void[]> {
    await this.nats.js.publish(resultSubject(results[0]!.queueId), encodePayload({ results }), {
      msgID: batchMessageId(results.map((result) => `${result.jobId}.result`)),
      expect: { streamName: RESULT_STREAM },
    });
    return results.map(() => undefined);
  }
}

/** The two events of a job that both deliverers log (each in its own catalogue). */
export type DeliveryJobEvent =
  | { event: 'job-done'; queueId: string; jobId: string; domain: string; results: RecipientResult[]; seconds: number }
  | { event: 'job-dropped'; queueId: string; jobId: string };

/** Their log lines, for the deliverers' event catalogues. */
export const DELIVERY_JOB_EVENT_LINES = {
  'job-done': { level: 'info', message: 'job done' },
  'job-dropped': { level: 'warn', message: 'message bytes not in the spool; reported to queue-manager' },
} as const;

/** The job's destination domain (jobs written before the field carry none: their first recipient's). */
export const jobDomain = (job: DeliveryJob): string => job.domain || job.recipients[0]!.slice(job.recipients[0]!.lastIndexOf('@') + 1).toLowerCase();

/**
 * One job, start to end: its message read from the spool, delivered by `deliver`, and its result, which
 * queue-manager must get whatever happened, because it counts the job against its destination until the
 * result comes: reported through `via.results` when given (the remote lane's stream), and returned (the
 * local lane answers its request with it).
 */
export async function runDeliveryJob(
  job: DeliveryJob,
  via: { spool: Spool; results?: Pick<ResultReporter, 'report'>; events: { emit(event: DeliveryJobEvent): void } },
  deliver: (spooled: { envelope: AcceptedMessage; message: Uint8Array }, domain: string) => Promise<RecipientResult[]>,
): Promise<DeliveryResult> {
  const spooled = await via.spool.readWithEnvelope(job.queueId);
  if (!spooled) {
    // Only queue-manager removes spooled bytes, once every destination is settled: a stale job, or a
    // lost spool. queue-manager tells which; it must hear of it either way.
    via.events.emit({ event: 'job-dropped', queueId: job.queueId, jobId: job.jobId });
    const dropped: DeliveryResult = { queueId: job.queueId, jobId: job.jobId, results: [], spoolMissing: true };
    await via.results?.report(dropped);
    return dropped;
  }
  const domain = jobDomain(job);
  const started = performance.now();
  const results = await deliver(spooled, domain);
  const seconds = (performance.now() - started) / 1000;
  const done: DeliveryResult = { queueId: job.queueId, jobId: job.jobId, results };
  await via.results?.report(done);
  via.events.emit({ event: 'job-done', queueId: job.queueId, jobId: job.jobId, domain, results, seconds });
  return done;
}

/**
 * Takes the remote lane's jobs from JetStream and hands each to `handleJob` (runDeliveryJob). A broker message
 * carries a batch of up to MAX_BATCH_ITEMS jobs; `concurrency` bounds the jobs in hand, not the messages:
 * counting messages let a backlog's drain put 64 times as many deliveries in flight at once against the
 * store or the Internet. A message is acknowledged once all its jobs are done, each having reported its
 * result; a crash midway hands the whole batch out again (delivery is idempotent per queue id and
 * recipient: mailbox-store's delivery record, delivery-agent's ledger for remote servers). Jobs waiting for a slot keep their message alive (runConsumer's heartbeat).
 */
export function runJobConsumer(
  nats: NatsContext,
  options: Omit<ConsumerOptions, 'handle' | 'filterSubject' | 'headersOnly'> & { handleJob: (job: DeliveryJob) => Promise<void> },
): Promise<(graceMs?: number) => Promise<void>> {
  const { handleJob, ...consumer } = options;
  const jobSlots = new Semaphore(options.concurrency);
  return runConsumer(nats, {
    ...consumer,
    handle: async (data) => {
      await Promise.all(
        decodeJobBatch(data).map(async (job) => {
          const release = await jobSlots.acquire();
          try {
            await handleJob(job);
          } finally {
            release();
          }
        }),
      );
    },
  });
}

/** Refusals of mailbox-store that no retry will change, by status code, as the SMTP reply reported. */
const PERMANENT: ReadonlyMap<grpc.status, string> = new Map([
  [grpc.status.NOT_FOUND, '550 5.1.1 mailbox unavailable'],
  [grpc.status.RESOURCE_EXHAUSTED, '552 5.2.2 message too large for mailbox'],
  [grpc.status.INVALID_ARGUMENT, '554 5.6.0 message refused by mailbox store'],
]);

/** One recipient's result from mailbox-store's answer to its delivery (a DeliverMany item reply). */
export function mailboxDeliveryResult(recipient: string, reply: DeliveryItemReply): RecipientResult {
  if (reply.code === grpc.status.OK) {
    return { recipient, outcome: 'delivered', reply: `250 2.0.0 delivered as ${reply.uidl}${reply.duplicate ? ' (already stored)' : ''}`, handoff: 'mailbox' };
  }
  const permanent = PERMANENT.get(reply.code);
  if (permanent) return { recipient, outcome: 'permanent', reply: `${permanent}: ${reply.details}`.trim() };
  return mailboxUnavailableResult(recipient, reply.details);
}

/** A delivery that mailbox-store could not take now: tried again later. */
export function mailboxUnavailableResult(recipient: string, reason: string): RecipientResult {
  return { recipient, outcome: 'temporary', reply: `451 4.3.0 mailbox store unavailable: ${reason}` };
}

export const deliveryMetrics = {
  deliveries: new Counter({
    name: 'deliveries_total',
    help: 'Delivery attempts by outcome (delivered, deferred, failed) and recipient domain',
    labelNames: ['outcome', 'domain'],
    registers: [],
  }),
  duration: new Histogram({
    name: 'delivery_duration_seconds',
    help: 'Time of one delivery attempt (one job)',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [],
  }),
};

const OUTCOME_LABEL = { delivered: 'delivered', temporary: 'deferred', permanent: 'failed' } as const;

/** Registers the delivery metrics (only the processes that deliver export them), at start-up. */
export function exportDeliveryMetrics(): void {
  if (registry.getSingleMetric('deliveries_total')) return;
  registry.registerMetric(deliveryMetrics.deliveries);
  registry.registerMetric(deliveryMetrics.duration);
}

/** Counts one finished job in the delivery metrics. */
export function countDeliveryJob(domain: string, results: readonly RecipientResult[], seconds: number): void {
  deliveryMetrics.duration.observe(seconds);
  for (const result of results) deliveryMetrics.deliveries.inc({ outcome: OUTCOME_LABEL[result.outcome], domain });
}
