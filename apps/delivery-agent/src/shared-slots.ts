// Connection slots per recipient domain shared by every delivery-agent replica, so that "at most N
// connections to example.com" holds for the whole cluster, not per process. The slots are keys
// `<domain>.<n>` of a JetStream KV bucket: a holder creates one (create fails if it exists), refreshes
// it while its transaction runs, and deletes it after; a holder that crashed stops refreshing and its
// key expires with the bucket's TTL, so the slot comes back by itself.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { KV } from '@nats-io/kv';
import type { NatsContext } from '@mail/platform';
import { domainKey, openTtlBucket } from './shared-limits.js';

export const SLOTS_BUCKET = 'delivery-slots';


export class SharedDomainSlots {
  private readonly holder = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;

  private constructor(
    private readonly kv: KV,
    private readonly leaseMs: number,
  ) {}

  static async open(nats: NatsContext, leaseMs: number): Promise<SharedDomainSlots> {
    return new SharedDomainSlots(await openTtlBucket(nats, SLOTS_BUCKET, leaseMs), leaseMs);
  }

  /** Takes one of the domain's `max` slots; undefined when all are held (try again a little later). */
  async tryAcquire(domain: string, max: number): Promise<(() => Promise<void>) | undefined> {
    const base = domainKey(domain.toLowerCase());
    // Start at a random slot so that replicas do not all race for slot 0.
    const offset = Math.floor(Math.random() * max);
    for (let i = 0; i < max; i++) {
      const key = `${base}.${(offset + i) % max}`;
      try {
        await this.kv.create(key, this.holder);
      } catch {
        continue; // held by someone
      }
      const refresh = setInterval(() => {
        this.kv.put(key, this.holder).catch(() => undefined);
      }, Math.max(250, this.leaseMs / 3));
      refresh.unref();
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        clearInterval(refresh);
        await this.kv.delete(key).catch(() => undefined);
      };
    }
    return undefined;
  }
}
