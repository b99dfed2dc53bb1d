// The local lane, taken here: queue-manager's jobs for local mailboxes come as NATS requests straight
// into the store, as a mailbox server's LMTP listener takes mail (Dovecot's), without a hop through
// delivery-agent and a gRPC call. A request carries a batch of jobs; each job's message is read from the
// spool (the reads of the moment share one request), delivered to each recipient, and the batch answered
// with every job's result, always: queue-manager counts a job against the lane until its result comes,
// and takes one without a result within QUEUE_LOCAL_JOB_TIMEOUT as lost and sends it again. Delivery is
// idempotent per queue id and recipient, so a job sent again (this process died holding it, or its
// answer was lost) stores nothing twice. Why a request and not a stream: libs/contracts nats.ts.
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJobBatch, encodePayload, LOCAL_JOB_QUEUE_GROUP, LOCAL_JOB_SUBJECT, LOCAL_JOB_WAIT_HEADER, STREAMS_USED, type DeliveryJob, type DeliveryResult, type RecipientResult } from '@mail/contracts';
import { encodeBinaryMime } from '@mail/mime';
import { awaitStreams, mailboxDeliveryResult, mailboxUnavailableResult, probeJetStream, runDeliveryJob, Semaphore, Spool, type JetStreamProbe, type Logger, type NatsContext, type NatsMsg } from '@mail/platform';
import type { Mailboxes } from './service.js';

/** How long a stopping lane lets the jobs in hand finish; the rest are sent again by queue-manager. */
const STOP_GRACE_MS = 15_000;

export class LocalLane {
  private readonly slots: Semaphore;

  constructor(
    private readonly mailboxes: Pick<Mailboxes, 'deliverItem' | 'events'>,
    private readonly spool: Spool,
    /** Jobs delivered at once, over all the batches in hand. */
    concurrency: number,
  ) {
    this.slots = new Semaphore(concurrency);
  }

  /**
   * Delivers a batch of jobs; resolves with one result per job, whatever happened to it, but for the jobs
   * whose turn came only after `expiresAt` (their sender no longer waits): those are left undone.
   */
  async deliverBatch(jobs: DeliveryJob[], expiresAt = Number.POSITIVE_INFINITY): Promise<{ results: DeliveryResult[]; expired: number }> {
    const results = await Promise.all(jobs.map((job) => this.deliverInSlot(job, expiresAt)));
    const done = results.filter((result) => result !== undefined);
    return { results: done, expired: jobs.length - done.length };
  }

  private async deliverInSlot(job: DeliveryJob, expiresAt: number): Promise<DeliveryResult | undefined> {
    const release = await this.slots.acquire();
    try {
      if (Date.now() >= expiresAt) return undefined;
      return await this.handle(job);
    } catch (err) {
      // The spool unreadable (the broker away), say: tried again after the lane's retry delay, not
      // after the job timeout. A recipient already stored is a duplicate then, which stores nothing.
      const reason = err instanceof Error ? err.message : String(err);
      return { queueId: job.queueId, jobId: job.jobId, results: job.recipients.map((recipient) => mailboxUnavailableResult(recipient, reason)) };
    } finally {
      release();
    }
  }

  private handle(job: DeliveryJob): Promise<DeliveryResult> {
    return runDeliveryJob(job, { spool: this.spool, events: this.mailboxes.events }, async ({ envelope, message }) => {
      // A mailbox is read as lines (POP3): a binary body is encoded for it.
      const stored = envelope.binaryMime ? encodeBinaryMime(message) : message;
      const results: RecipientResult[] = [];
      for (const recipient of job.recipients) {
        const header = { queueId: job.queueId, recipient, returnPath: job.sender, size: stored.length };
        results.push(mailboxDeliveryResult(recipient, await this.mailboxes.deliverItem(header, stored, 'LocalLane')));
      }
      return results;
    });
  }

  /**
   * Answers the lane's requests, as one of the queue group, until the returned function is called: it
   * takes no more, and lets the batches in hand finish and be answered (for a while).
   */
  serve(nats: NatsContext, logger: Logger): (graceMs?: number) => Promise<void> {
    const inHand = new Set<Promise<void>>();
    const subscription = nats.nc.subscribe(LOCAL_JOB_SUBJECT, {
      queue: LOCAL_JOB_QUEUE_GROUP,
      callback: (err, request) => {
        if (err) {
          logger.warn({ err: err.message }, 'local lane subscription error');
          return;
        }
        const answering = this.answer(request, logger).finally(() => inHand.delete(answering));
        inHand.add(answering);
      },
    });
    return async (graceMs = STOP_GRACE_MS) => {
      await subscription.drain();
      const finished = Promise.all(inHand).then(() => true);
      if (!(await Promise.race([finished, sleep(graceMs, false, { ref: false })]))) logger.warn({ unfinished: inHand.size }, 'shutting down: local jobs left unanswered (queue-manager sends them again)');
    };
  }

  private async answer(request: NatsMsg, logger: Logger): Promise<void> {
    let jobs: DeliveryJob[];
    try {
      jobs = decodeJobBatch(request.data);
    } catch (err) {
      // Nothing to answer with: the sender learns it when its jobs time out.
      logger.warn({ err: err instanceof Error ? err.message : String(err), bytes: request.data.length }, 'local job request not readable; dropped');
      return;
    }
    const waitMs = Number(request.headers?.get(LOCAL_JOB_WAIT_HEADER));
    const { results, expired } = await this.deliverBatch(jobs, waitMs > 0 ? Date.now() + waitMs : undefined);
    if (expired > 0) logger.warn({ jobs: jobs.length, expired, waitMs }, 'local jobs not begun before their sender stopped waiting: left undone (it sends them again)');
    if (!request.reply || expired === jobs.length) return;
    try {
      request.respond(encodePayload({ results }));
    } catch (err) {
      // The connection closing under a stop that ran out of time: queue-manager sends these jobs again.
      logger.warn({ err: err instanceof Error ? err.message : String(err), jobs: jobs.length }, 'local job results not sent');
    }
  }
}

export interface LocalLaneOptions {
  /** Connects to NATS (may fail: the broker is away). */
  connect: () => Promise<NatsContext>;
  concurrency: number;
  logger: Logger;
  /** An error that leaves the lane unable to start (refused permissions, say): the process should end. */
  onFatal: (err: unknown) => void;
}

/**
 * The local lane, started in the background so that logins and POP3 are served while the broker is away:
 * connects (asked again every 2 s until it answers), waits for queue-manager to create the spool, and
 * answers jobs. `healthy` follows a JetStream round trip (the spool is read through it); `stop` lets the
 * jobs in hand finish first.
 */
export function startLocalLane(mailboxes: Pick<Mailboxes, 'deliverItem' | 'events'>, options: LocalLaneOptions): { healthy(): boolean; stop(): Promise<void> } {
  let nats: NatsContext | undefined;
  let probe: JetStreamProbe | undefined;
  let stopServing: ((graceMs?: number) => Promise<void>) | undefined;
  let stopping = false;
  void (async () => {
    while (!stopping && !nats) {
      try {
        nats = await options.connect();
      } catch (err) {
        options.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'NATS not reachable: local delivery waits; asking again in 2 s');
        await sleep(2000);
      }
    }
    if (!nats) return;
    await awaitStreams(nats, STREAMS_USED['mailbox-store'], options.logger);
    if (stopping) return;
    probe = probeJetStream(nats);
    stopServing = new LocalLane(mailboxes, new Spool(nats), options.concurrency).serve(nats, options.logger);
  })().catch(options.onFatal);
  return {
    healthy: () => probe?.healthy() ?? false,
    stop: async () => {
      stopping = true;
      await stopServing?.();
      probe?.stop();
      await nats?.nc.drain();
    },
  };
}
