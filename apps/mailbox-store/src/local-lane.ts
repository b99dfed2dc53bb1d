// The local lane, taken here: queue-manager's jobs for local mailboxes go from JetStream straight into
// the store, as a mailbox server's LMTP listener takes mail (Dovecot's), without a hop through
// delivery-agent and a gRPC call. Each job's message is read from the spool (the reads of the moment
// share one request), delivered to each recipient, and its result reported to queue-manager, always:
// queue-manager counts the job against the lane until the result comes. Delivery is idempotent per
// queue id and recipient, so a job handed out again (a crash before the ack) stores nothing twice.
import { setTimeout as sleep } from 'node:timers/promises';
import { JOB_CONSUMERS, JOB_STREAMS, STREAMS_USED, type DeliveryJob, type RecipientResult } from '@mail/contracts';
import { encodeBinaryMime } from '@mail/mime';
import { awaitStreams, mailboxDeliveryResult, probeJetStream, ResultReporter, runDeliveryJob, runJobConsumer, Spool, type JetStreamProbe, type Logger, type NatsContext } from '@mail/platform';
import type { Mailboxes } from './service.js';

export class LocalLane {
  constructor(
    private readonly mailboxes: Pick<Mailboxes, 'deliverItem' | 'events'>,
    private readonly spool: Spool,
    private readonly results: ResultReporter,
  ) {}

  handle(job: DeliveryJob): Promise<void> {
    return runDeliveryJob(job, { spool: this.spool, results: this.results, events: this.mailboxes.events }, async ({ envelope, message }) => {
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

  /** Takes jobs until the returned function is called (it lets the jobs in hand finish, for a while). */
  run(nats: NatsContext, options: { concurrency: number; ackWaitMs: number; logger: Logger }): Promise<(graceMs?: number) => Promise<void>> {
    return runJobConsumer(nats, { stream: JOB_STREAMS.local, durable: JOB_CONSUMERS.local, ...options, handleJob: (job) => this.handle(job) });
  }
}

export interface LocalLaneOptions {
  /** Connects to NATS (may fail: the broker is away). */
  connect: () => Promise<NatsContext>;
  concurrency: number;
  ackWaitMs: number;
  logger: Logger;
  /** An error that leaves the lane unable to start (refused permissions, say): the process should end. */
  onFatal: (err: unknown) => void;
}

/**
 * The local lane, started in the background so that logins and POP3 are served while the broker is away:
 * connects (asked again every 2 s until it answers), waits for queue-manager to create the streams, and
 * takes jobs. `healthy` follows a JetStream round trip; `stop` lets the jobs in hand finish first.
 */
export function startLocalLane(mailboxes: Pick<Mailboxes, 'deliverItem' | 'events'>, options: LocalLaneOptions): { healthy(): boolean; stop(): Promise<void> } {
  let nats: NatsContext | undefined;
  let probe: JetStreamProbe | undefined;
  let stopConsumer: ((graceMs?: number) => Promise<void>) | undefined;
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
    const { concurrency, ackWaitMs, logger } = options;
    stopConsumer = await new LocalLane(mailboxes, new Spool(nats), new ResultReporter(nats)).run(nats, { concurrency, ackWaitMs, logger });
  })().catch(options.onFatal);
  return {
    healthy: () => probe?.healthy() ?? false,
    stop: async () => {
      stopping = true;
      await stopConsumer?.();
      probe?.stop();
      await nats?.nc.drain();
    },
  };
}
