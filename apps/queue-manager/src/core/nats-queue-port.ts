// QueuePort on JetStream: entries in the mail-queue KV bucket (compare-and-set by revision), message
// bytes in the spool stream (libs/platform spool.ts), jobs on the lane's work-queue stream, the jobs of
// one moment in one message (a batch) whose message id names its jobs (a repeat within the duplicate
// window is dropped by the server).
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import { StorageType } from '@nats-io/jetstream';
import {
  JOB_STREAMS,
  MAX_BATCH_BYTES,
  MAX_BATCH_ITEMS,
  QUEUE_BUCKET,
  approximateBytes,
  batchMessageId,
  decodePayload,
  encodePayload,
  jobSubject,
  type AcceptedMessage,
  type DeliveryJob,
} from '@mail/contracts';
import { Batcher, type NatsContext, type Spool } from '@mail/platform';
import { QueueEntry, type Lane } from './entry.js';
import type { QueuePort, StoredEntry } from './queue-port.js';

/**
 * Job batches out at once per lane. Remote jobs go one per message: each is a whole SMTP session, and a
 * delivery-agent's concurrency setting counts messages, so a batch of remote jobs would run past it.
 */
const JOB_BATCHES: Record<Lane, { maxItems: number; maxCalls: number }> = {
  local: { maxItems: MAX_BATCH_ITEMS, maxCalls: 4 },
  remote: { maxItems: 1, maxCalls: 64 },
};

export class NatsQueuePort implements QueuePort {
  private readonly jobBatches: Record<Lane, Batcher<DeliveryJob>>;

  private constructor(
    private readonly nats: NatsContext,
    readonly kv: KV,
    private readonly spool: Spool,
  ) {
    const batcher = (lane: Lane) =>
      new Batcher((jobs: DeliveryJob[]) => this.publishJobs(lane, jobs), { ...JOB_BATCHES[lane], maxBytes: MAX_BATCH_BYTES, sizeOf: approximateBytes });
    this.jobBatches = { local: batcher('local'), remote: batcher('remote') };
  }

  static async open(nats: NatsContext, spool: Spool): Promise<NatsQueuePort> {
    const kv = await new Kvm(nats.js).create(QUEUE_BUCKET, { history: 1, storage: StorageType.File, replicas: nats.settings.streamReplicas });
    return new NatsQueuePort(nats, kv, spool);
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
    return this.jobBatches[lane].add(job);
  }

  private async publishJobs(lane: Lane, jobs: DeliveryJob[]): Promise<void[]> {
    await this.nats.js.publish(jobSubject(lane, jobs[0]!.queueId), encodePayload({ jobs }), {
      msgID: batchMessageId(jobs.map((job) => job.jobId)),
      expect: { streamName: JOB_STREAMS[lane] },
    });
    return jobs.map(() => undefined);
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
