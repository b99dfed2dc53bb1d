// What the queue core needs from the outside world, as one interface: the entries (compare-and-set
// by revision), the spooled message bytes, and the job streams. nats-queue-port.ts implements it on
// JetStream; MemoryQueuePort below is the fake the core's unit tests run on.
import type { DeliveryJob } from '@mail/contracts';
import type { Lane, QueueEntry } from './entry.js';

export interface StoredEntry {
  entry: QueueEntry;
  revision: number;
}

export interface QueuePort {
  get(queueId: string): Promise<StoredEntry | undefined>;
  /** Creates the entry; its revision, or undefined when one exists already. */
  create(entry: QueueEntry): Promise<number | undefined>;
  /** Writes the entry if its stored revision is still `revision`; the new revision, or undefined when it changed meanwhile. */
  replace(entry: QueueEntry, revision: number): Promise<number | undefined>;
  remove(queueId: string): Promise<void>;
  /** Hands a job to delivery-agent; a repeat of the same job id is dropped by the stream. */
  publishJob(lane: Lane, job: DeliveryJob): Promise<void>;
  readMessage(queueId: string): Promise<Uint8Array | null>;
  messageExists(queueId: string): Promise<boolean>;
  storeMessage(queueId: string, message: Uint8Array): Promise<void>;
  deleteMessage(queueId: string): Promise<void>;
}

/** An in-memory QueuePort that records what was published: for unit tests of the core. */
export class MemoryQueuePort implements QueuePort {
  readonly entries = new Map<string, StoredEntry>();
  readonly messages = new Map<string, Uint8Array>();
  readonly jobs: { lane: Lane; job: DeliveryJob }[] = [];
  private revision = 0;
  /** Set to make the next publishes fail (a broker outage). */
  failPublishes = 0;

  async get(queueId: string): Promise<StoredEntry | undefined> {
    const stored = this.entries.get(queueId);
    return stored && structuredClone(stored);
  }

  async create(entry: QueueEntry): Promise<number | undefined> {
    if (this.entries.has(entry.queueId)) return undefined;
    const revision = ++this.revision;
    this.entries.set(entry.queueId, { entry: structuredClone(entry), revision });
    return revision;
  }

  async replace(entry: QueueEntry, revision: number): Promise<number | undefined> {
    const stored = this.entries.get(entry.queueId);
    if (!stored || stored.revision !== revision) return undefined;
    const next = ++this.revision;
    this.entries.set(entry.queueId, { entry: structuredClone(entry), revision: next });
    return next;
  }

  async remove(queueId: string): Promise<void> {
    this.entries.delete(queueId);
  }

  async publishJob(lane: Lane, job: DeliveryJob): Promise<void> {
    if (this.failPublishes > 0) {
      this.failPublishes--;
      throw new Error('publish failed (test)');
    }
    if (this.jobs.some((j) => j.job.jobId === job.jobId)) return; // the stream's duplicate window
    this.jobs.push({ lane, job: structuredClone(job) });
  }

  async readMessage(queueId: string): Promise<Uint8Array | null> {
    return this.messages.get(queueId) ?? null;
  }

  async messageExists(queueId: string): Promise<boolean> {
    return this.messages.has(queueId);
  }

  async storeMessage(queueId: string, message: Uint8Array): Promise<void> {
    this.messages.set(queueId, message);
  }

  async deleteMessage(queueId: string): Promise<void> {
    this.messages.delete(queueId);
  }
}
