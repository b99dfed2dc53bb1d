// QueuePort on NATS: entries in the mail-queue KV bucket (compare-and-set by revision), message bytes
// in the spool stream (libs/platform spool.ts), and jobs, the jobs of one moment in one message (a
// batch). Remote jobs go to their work-queue stream, the message id naming its jobs (a repeat within
// the duplicate window is dropped by the server); local jobs are requests to mailbox-store, answered
// with their results (why: libs/contracts nats.ts).
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import { StorageType } from '@nats-io/jetstream';
import {
  LOCAL_JOB_SUBJECT,
  LOCAL_JOB_WAIT_HEADER,
  LOCAL_RESULT_PREFIX,
  MAX_BATCH_BYTES,
  MAX_BATCH_ITEMS,
  QUEUE_BUCKET,
  approximateBytes,
  batchMessageId,
  decodePayload,
  decodeResultBatch,
  encodePayload,
  REMOTE_JOB_STREAM,
  remoteJobSubject,
  type AcceptedMessage,
  type DeliveryJob,
  type DeliveryResult,
} from '@mail/contracts';
import { Batcher, natsHeaders, type Logger, type NatsContext, type NatsMsg, type Spool } from '@mail/platform';
import { QueueEntry, type Lane } from './entry.js';
import type { QueuePort, StoredEntry } from './queue-port.js';

/**
 * Job batches out at once per lane (a local batch is out until answered: requestLocalJobs).
 * Remote jobs go one per message: each is a whole SMTP session, and a delivery-agent's concurrency
 * setting counts messages, so a batch of remote jobs would run past it.
 */
const JOB_BATCHES: Record<Lane, { maxItems: number; maxCalls: number }> = {
  local: { maxItems: MAX_BATCH_ITEMS, maxCalls: 4 },
  remote: { maxItems: 1, maxCalls: 64 },
};

/**
 * How long a local batch holds its place among those out (JOB_BATCHES) while its answer is awaited: an
 * answer takes milliseconds, and a mailbox-store that died holding batches then stalls the lane this
 * long, not for the whole job timeout.
 */
const LOCAL_BATCH_HOLD_MS = 1000;

/** With no mailbox-store subscribed (one starting, or all restarting), a local batch is asked again this often until its time is up. */
const NO_RESPONDER_RETRY_MS = 1000;

export interface LocalLaneSettings {
  /** A local batch unanswered this long is given up here; the core takes its jobs as lost at the same time (QUEUE_LOCAL_JOB_TIMEOUT). */
  jobTimeoutMs: number;
  logger: Logger;
}

/** How a local request ended: its answer, nobody to take it (the server said so), or no answer in time. */
type LocalOutcome = NatsMsg | 'no-responders' | 'unanswered';

export class NatsQueuePort implements QueuePort {
  private readonly jobBatches: Record<Lane, Batcher<DeliveryJob>>;
  private localResults: (result: DeliveryResult) => Promise<void> = async () => undefined;
  /** This process's answer subjects: `<prefix>.<n>`, one per request (LOCAL_RESULT_PREFIX in contracts says why not the inbox). */
  private readonly localReplyPrefix = `${LOCAL_RESULT_PREFIX}.${randomBytes(8).toString('hex')}`;
  private readonly localWaiting = new Map<string, (outcome: LocalOutcome) => void>();
  private localRequests = 0;

  private constructor(
    private readonly nats: NatsContext,
    readonly kv: KV,
    private readonly spool: Spool,
    private readonly local: LocalLaneSettings,
  ) {
    const batcher = (lane: Lane) =>
      new Batcher((jobs: DeliveryJob[]) => (lane === 'local' ? this.requestLocalJobs(jobs) : this.publishRemoteJobs(jobs)), {
        ...JOB_BATCHES[lane],
        maxBytes: MAX_BATCH_BYTES,
        sizeOf: approximateBytes,
      });
    this.jobBatches = { local: batcher('local'), remote: batcher('remote') };
    nats.nc.subscribe(`${this.localReplyPrefix}.*`, {
      callback: (err, answer) => {
        if (err) return;
        // A status message with no payload is the server's "no responders" for a request nobody took.
        const outcome = answer.headers?.code === 503 && answer.data.length === 0 ? 'no-responders' : answer;
        this.localWaiting.get(answer.subject.slice(this.localReplyPrefix.length + 1))?.(outcome);
      },
    });
  }

  static async open(nats: NatsContext, spool: Spool, local: LocalLaneSettings): Promise<NatsQueuePort> {
    const kv = await new Kvm(nats.js).create(QUEUE_BUCKET, { history: 1, storage: StorageType.File, replicas: nats.settings.streamReplicas });
    return new NatsQueuePort(nats, kv, spool, local);
  }

  /** Where the results of local jobs go as their answers come (the core's onResult); remote results come through their stream. */
  receiveLocalResults(handler: (result: DeliveryResult) => Promise<void>): void {
    this.localResults = handler;
  }

  async get(queueId: string): Promise<StoredEntry | undefined> {
    const found = await this.kv.get(queueId);
    if (!found || found.operation !== 'PUT' || found.length === 0) return undefined;
    return { entry: decodePayload(QueueEntry, found.value), revision: found.revision };
  }

  async create(entry: QueueEntry): Promise<number | undefined> {
    try {
      return await this.kv.create(entry.queueId, encodePayload(entry));
    } catch (err) {
      if (await this.get(entry.queueId)) return undefined;
      throw err;
    }
  }

  async replace(entry: QueueEntry, revision: number): Promise<number | undefined> {
    try {
      return await this.kv.update(entry.queueId, encodePayload(entry), revision);
    } catch (err) {
      const current = await this.get(entry.queueId);
      if (!current || current.revision !== revision) return undefined;
      throw err;
    }
  }

  async remove(queueId: string): Promise<void> {
    await this.kv.purge(queueId);
  }

  publishJob(lane: Lane, job: DeliveryJob): Promise<void> {
    if (lane === 'remote') return this.jobBatches.remote.add(job);
    // Out once handed to the local batcher: it is sent from there, and the core counts it until its
    // result comes or its time runs out. Waiting for the answer here would hold the core's lock on the
    // entry through the delivery, and settling the result needs that lock.
    void this.jobBatches.local.add(job);
    return Promise.resolve();
  }

  private async publishRemoteJobs(jobs: DeliveryJob[]): Promise<void[]> {
    await this.nats.js.publish(remoteJobSubject(jobs[0]!.queueId), encodePayload({ jobs }), {
      msgID: batchMessageId(jobs.map((job) => job.jobId)),
      expect: { streamName: REMOTE_JOB_STREAM },
    });
    return jobs.map(() => undefined);
  }

  /**
   * Sends a batch of local jobs; resolves when it is answered (its results settled), or after
   * LOCAL_BATCH_HOLD_MS at most, while the answer is still awaited. Until then the batch holds one of the
   * lane's places (JOB_BATCHES), so under load the jobs of the moment gather into larger batches.
   */
  private async requestLocalJobs(jobs: DeliveryJob[]): Promise<void[]> {
    const answered = this.awaitLocalAnswer(jobs, Date.now() + this.local.jobTimeoutMs);
    await Promise.race([answered, sleep(LOCAL_BATCH_HOLD_MS, undefined, { ref: false })]);
    return jobs.map(() => undefined);
  }

  /** Sends one local request and waits for how it ends, `waitMs` at most. */
  private askLocal(payload: Uint8Array, waitMs: number): Promise<LocalOutcome> {
    const id = String(++this.localRequests);
    return new Promise((resolve) => {
      const end = (outcome: LocalOutcome) => {
        clearTimeout(timer);
        this.localWaiting.delete(id);
        resolve(outcome);
      };
      const timer = setTimeout(() => end('unanswered'), waitMs);
      this.localWaiting.set(id, end);
      const header = natsHeaders();
      header.set(LOCAL_JOB_WAIT_HEADER, String(waitMs));
      try {
        this.nats.nc.publish(LOCAL_JOB_SUBJECT, payload, { reply: `${this.localReplyPrefix}.${id}`, headers: header });
      } catch {
        end('unanswered'); // the connection closed or closing
      }
    });
  }

  private async awaitLocalAnswer(jobs: DeliveryJob[], deadline: number): Promise<void> {
    const payload = encodePayload({ jobs });
    for (;;) {
      const outcome = await this.askLocal(payload, Math.max(1, deadline - Date.now()));
      if (outcome === 'no-responders' && deadline - Date.now() > NO_RESPONDER_RETRY_MS) {
        await sleep(NO_RESPONDER_RETRY_MS);
        continue;
      }
      let results: DeliveryResult[];
      try {
        if (typeof outcome === 'string') throw new Error(outcome);
        results = decodeResultBatch(outcome.data);
      } catch (err) {
        // Unanswered in time (the mailbox-store holding it died, say): the core takes the jobs as lost
        // at their deadline and sends them again.
        this.local.logger.warn({ jobs: jobs.length, first: jobs[0]!.jobId, err: err instanceof Error ? err.message : String(err) }, 'local jobs unanswered; they are sent again when their time is up');
        return;
      }
      await Promise.all(results.map((result) => this.localResults(result))).catch((err: unknown) =>
        this.local.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'settling local results failed; their jobs are sent again when their time is up'),
      );
      return;
    }
  }

  readMessage(queueId: string): Promise<Uint8Array | null> {
    return this.spool.read(queueId);
  }

  messageExists(queueId: string): Promise<boolean> {
    return this.spool.exists(queueId);
  }

  async enqueueMessage(envelope: AcceptedMessage, message: Uint8Array): Promise<void> {
    await this.spool.put(envelope, message);
  }

  deleteMessage(queueId: string, seqs: number[]): Promise<void> {
    return this.spool.discard(queueId, seqs);
  }

  spoolHeads(): AsyncIterable<{ envelope: AcceptedMessage; seq: number }> {
    return this.spool.heads();
  }

  /**
   * Reads every entry, then reports each later change until stopped: its revision, and a function that
   * decodes it (undefined: removed), called only when the change is news to the caller. Resolves once
   * the entries present at the start have all been read.
   */
  async mirror(onChange: (queueId: string, revision: number, read: () => StoredEntry | undefined) => void): Promise<{ initial: StoredEntry[]; stop: () => void }> {
    const initial = new Map<string, StoredEntry>();
    const watcher = await this.kv.watch();
    let loaded!: () => void;
    const done = new Promise<void>((resolve) => (loaded = resolve));
    let initialising = true;
    if ((await this.kv.status()).values === 0) {
      initialising = false;
      loaded();
    }
    const decode = (e: KvWatchEntry): StoredEntry | undefined => {
      try {
        return e.operation === 'PUT' && e.length > 0 ? { entry: decodePayload(QueueEntry, e.value), revision: e.revision } : undefined;
      } catch {
        return undefined; // not an entry this version can read: left alone, as get() would fail on it too
      }
    };
    void (async () => {
      for await (const e of watcher) {
        if (initialising) {
          const stored = decode(e);
          if (stored) initial.set(e.key, stored);
          else initial.delete(e.key);
          if (e.isUpdate || e.delta === 0) {
            initialising = false;
            loaded();
          }
        } else onChange(e.key, e.revision, () => decode(e));
      }
    })();
    await done;
    return { initial: [...initial.values()], stop: () => watcher.stop() };
  }
}
