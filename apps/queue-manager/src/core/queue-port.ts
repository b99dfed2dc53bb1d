// What the queue core needs from the outside world, as one interface: the entries (compare-and-set
// by revision), the spooled message bytes, and the lanes' jobs. nats-queue-port.ts implements it on
// JetStream; MemoryQueuePort below is the fake the core's unit tests run on.
import type { AcceptedMessage, DeliveryJob } from '@mail/contracts';
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
  /** Hands a job to its lane (remote: delivery-agent, through a stream that drops a repeat of a job id; local: mailbox-store). Resolves once it is out, not delivered. */
  publishJob(lane: Lane, job: DeliveryJob): Promise<void>;
  readMessage(queueId: string): Promise<Uint8Array | null>;
  messageExists(queueId: string): Promise<boolean>;
  /** Queues a message of our own (a notice) the way smtp-ingress does: it comes back as an accepted event. */
  enqueueMessage(envelope: AcceptedMessage, message: Uint8Array): Promise<void>;
  /** Removes the message's bytes: the spool parts `seqs` (looked up when empty). Resolves when asked, not when done: a lost removal leaves the message in the spool. */
  deleteMessage(queueId: string, seqs: number[]): Promise<void>;
  /** Every message in the spool now, oldest first: envelope and head sequence. */
  spoolHeads(): AsyncIterable<{ envelope: AcceptedMessage; seq: number }>;
}

/** An in-memory QueuePort that records what was published: for unit tests of the core. */
export class MemoryQueuePort implements QueuePort {
  readonly entries = new Map<string, StoredEntry>();
  readonly messages = new Map<string, Uint8Array>();
  readonly jobs: { lane: Lane; job: DeliveryJob }[] = [];
  /** Messages queued with enqueueMessage, for the test to hand to the core as accepted events. */
  readonly enqueued: AcceptedMessage[] = [];
  private revision = 0;
  /** Set to make the next publishes fail (a broker outage). */
  failPublishes = 0;
  /** Set to make the next entry writes (create, replace) fail. */
  failWrites = 0;
  /** Entries created in the bucket so far (a first write of an entry). */
  creates = 0;

  private failWrite(): void {
    if (this.failWrites > 0) {
      this.failWrites--;
      throw new Error('write failed (test)');
    }
  }

  async get(queueId: string): Promise<StoredEntry | undefined> {
    const stored = this.entries.get(queueId);
    return stored && structuredClone(stored);
  }

  async create(entry: QueueEntry): Promise<number | undefined> {
    this.failWrite();
    if (this.entries.has(entry.queueId)) return undefined;
    this.creates++;
    const revision = ++this.revision;
    this.entries.set(entry.queueId, { entry: structuredClone(entry), revision });
    return revision;
  }

  async replace(entry: QueueEntry, revision: number): Promise<number | undefined> {
    this.failWrite();
    const stored = this.entries.get(entry.queueId);
    if (!stored || stored.revision !== revision) return undefined;
    const next = ++this.revision;
    this.entries.set(entry.queueId, { entry: structuredClone(entry), revision: next });
    return next;
  }

  async remove(queueId: string): Promise<void> {
    this.entries.delete(queueId);
  }

  /** Every publish tried, repeats included (the stream would drop them, but each costs a round trip). */
  publishAttempts = 0;

  async publishJob(lane: Lane, job: DeliveryJob): Promise<void> {
    this.publishAttempts++;
    await new Promise((resolve) => setImmediate(resolve)); // a round trip: other work runs meanwhile
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

  async enqueueMessage(envelope: AcceptedMessage, message: Uint8Array): Promise<void> {
    if (this.messages.has(envelope.queueId)) return; // the spool drops a repeat of the same id
    this.messages.set(envelope.queueId, message);
    this.enqueued.push(structuredClone(envelope));
  }

  /** Set to make the next removals get lost on the way (they resolve, and the message stays). */
  loseDeletes = 0;

  async deleteMessage(queueId: string, _seqs: number[]): Promise<void> {
    if (this.loseDeletes > 0) {
      this.loseDeletes--;
      return;
    }
    this.messages.delete(queueId);
  }

  /** Set by tests for messages put in `messages` directly (a spool written by a predecessor). */
  readonly envelopes = new Map<string, AcceptedMessage>();

  async *spoolHeads(): AsyncGenerator<{ envelope: AcceptedMessage; seq: number }> {
    let seq = 0;
    for (const queueId of [...this.messages.keys()]) {
      seq++;
      const envelope = this.envelopes.get(queueId) ?? this.enqueued.find((e) => e.queueId === queueId);
      if (envelope && this.messages.has(queueId)) yield { envelope: structuredClone(envelope), seq };
    }
  }
}
