// The queue's state: one QueueEntry per message in the mail-queue KV bucket. Only queue-manager writes
// it; every change is a compare-and-set on the entry's revision, so concurrent handlers never lose an update.
import { Kvm, type KV } from '@nats-io/kv';
import { StorageType } from '@nats-io/jetstream';
import { QUEUE_BUCKET, QueueEntry, decodePayload, encodePayload } from '@mail/contracts';
import type { NatsContext } from '@mail/platform';

export class QueueStore {
  private constructor(private readonly kv: KV) {}

  static async open(nats: NatsContext): Promise<QueueStore> {
    return new QueueStore(await new Kvm(nats.js).create(QUEUE_BUCKET, { history: 1, storage: StorageType.File, replicas: nats.settings.streamReplicas }));
  }

  async get(queueId: string): Promise<{ entry: QueueEntry; revision: number } | undefined> {
    const found = await this.kv.get(queueId);
    if (!found || found.operation !== 'PUT' || found.length === 0) return undefined;
    return { entry: decodePayload(QueueEntry, found.value), revision: found.revision };
  }

  /** Creates the entry; false if it exists already (a redelivered "accepted" event). */
  async create(entry: QueueEntry): Promise<boolean> {
    try {
      await this.kv.create(entry.queueId, encodePayload(entry));
      return true;
    } catch (err) {
      if (await this.get(entry.queueId)) return false;
      throw err;
    }
  }

  /**
   * Applies `change` to the current entry with compare-and-set, retrying on a concurrent write.
   * Returns the entry as written, or undefined when there is no entry.
   */
  async update(queueId: string, change: (entry: QueueEntry) => QueueEntry): Promise<QueueEntry | undefined> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(queueId);
      if (!current) return undefined;
      const next = change(structuredClone(current.entry));
      try {
        await this.kv.update(queueId, encodePayload(next), current.revision);
        return next;
      } catch (err) {
        if (attempt >= 20) throw err;
      }
    }
  }

  /** Writes `entry` if the stored revision is still `revision`; false when someone changed it meanwhile. */
  async replace(entry: QueueEntry, revision: number): Promise<boolean> {
    try {
      await this.kv.update(entry.queueId, encodePayload(entry), revision);
      return true;
    } catch (err) {
      const current = await this.get(entry.queueId);
      if (!current || current.revision !== revision) return false;
      throw err;
    }
  }

  async remove(queueId: string): Promise<void> {
    await this.kv.purge(queueId);
  }

  async list(): Promise<QueueEntry[]> {
    const entries: QueueEntry[] = [];
    for await (const key of await this.kv.keys()) {
      const found = await this.get(key);
      if (found) entries.push(found.entry);
    }
    return entries;
  }
}
