// Connection slots per recipient domain shared by every delivery-agent replica, so that "at most N
// connections to example.com" holds for the whole cluster, not per process. The slots are keys
// `<domain>.<n>` of a JetStream KV bucket: a holder creates one (create fails if it exists), refreshes
// it while its transaction runs, and deletes it after; a holder that crashed stops refreshing and its
// key expires with the bucket's TTL, so the slot comes back by itself.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Kvm, type KV } from '@nats-io/kv';
import { StorageType } from '@nats-io/jetstream';
import type { NatsContext } from '@mail/platform';

export const SLOTS_BUCKET = 'delivery-slots';

/** KV keys allow [-/_=.a-zA-Z0-9]: plain domains as they are, anything else (IDN in UTF-8) as hex. */
const keyOf = (domain: string) => (/^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/.test(domain) ? domain : `x${Buffer.from(domain).toString('hex')}`);

export class SharedDomainSlots {
  private readonly holder = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;

  private constructor(
    private readonly kv: KV,
    private readonly leaseMs: number,
  ) {}

  static async open(nats: NatsContext, leaseMs: number): Promise<SharedDomainSlots> {
    const kv = await new Kvm(nats.js).create(SLOTS_BUCKET, {
      history: 1,
      ttl: leaseMs,
      storage: StorageType.File,
      replicas: nats.settings.streamReplicas,
    });
    return new SharedDomainSlots(kv, leaseMs);
  }

  /** Takes one of the domain's `max` slots; undefined when all are held (try again a little later). */
  async tryAcquire(domain: string, max: number): Promise<(() => Promise<void>) | undefined> {
    const base = keyOf(domain.toLowerCase());
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
