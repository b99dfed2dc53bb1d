// Per-domain limits that hold for the whole cluster of delivery-agents, in JetStream KV buckets whose
// TTL is the limit's time: the message rate (a counter per domain and fixed window, updated with
// compare-and-set) and the back-off of a destination that failed (a key per domain that expires).
import { Kvm, type KV } from '@nats-io/kv';
import { StorageType } from '@nats-io/jetstream';
import type { NatsContext } from '@mail/platform';

/** KV keys allow [-/_=.a-zA-Z0-9]: plain domains as they are (lower case), anything else (IDN in UTF-8) as hex. */
export const domainKey = (domain: string): string => {
  const name = domain.toLowerCase();
  return /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/.test(name) ? name : `x${Buffer.from(name).toString('hex')}`;
};

/**
 * A KV bucket whose keys live `ttlMs`. If it exists already with other settings (another replica, an
 * earlier configuration), it is used as it is rather than failing start-up.
 */
export async function openTtlBucket(nats: NatsContext, name: string, ttlMs: number): Promise<KV> {
  const kvm = new Kvm(nats.js);
  try {
    return await kvm.create(name, { history: 1, ttl: ttlMs, storage: StorageType.File, replicas: nats.settings.streamReplicas });
  } catch {
    return kvm.open(name);
  }
}

/** Where the "this domain is failing, leave it alone" mark lives: this process, or the cluster. */
export interface DomainBackoff {
  /** The reason the domain is backed off, or undefined. */
  get(domain: string): Promise<string | undefined>;
  set(domain: string, reason: string): Promise<void>;
  clear(domain: string): Promise<void>;
}

const decoder = new TextDecoder();

export class SharedDomainBackoff implements DomainBackoff {
  private constructor(private readonly kv: KV) {}

  static async open(nats: NatsContext, backoffMs: number): Promise<SharedDomainBackoff> {
    return new SharedDomainBackoff(await openTtlBucket(nats, 'delivery-backoff', backoffMs));
  }

  async get(domain: string): Promise<string | undefined> {
    const entry = await this.kv.get(domainKey(domain)).catch(() => null);
    return entry && entry.operation === 'PUT' && entry.length > 0 ? decoder.decode(entry.value) : undefined;
  }

  async set(domain: string, reason: string): Promise<void> {
    await this.kv.put(domainKey(domain), reason.slice(0, 500)).catch(() => undefined);
  }

  async clear(domain: string): Promise<void> {
    if (await this.get(domain)) await this.kv.delete(domainKey(domain)).catch(() => undefined);
  }
}

export class SharedDomainRate {
  private constructor(
    private readonly kv: KV,
    private readonly windowMs: number,
  ) {}

  static async open(nats: NatsContext, windowMs: number): Promise<SharedDomainRate> {
    return new SharedDomainRate(await openTtlBucket(nats, 'delivery-rates', windowMs * 2), windowMs);
  }

  /**
   * Counts one message for the domain if the cluster is still under `max` in the current window;
   * returns 0 then, or how long to wait for the next window.
   */
  async admit(domain: string, max: number, now = Date.now()): Promise<number> {
    if (max <= 0) return 0;
    const window = Math.floor(now / this.windowMs);
    const key = `${domainKey(domain)}.${window}`;
    for (let attempt = 0; attempt < 20; attempt++) {
      const entry = await this.kv.get(key);
      const count = entry && entry.operation === 'PUT' ? Number(decoder.decode(entry.value)) : 0;
      if (count >= max) return (window + 1) * this.windowMs - now;
      try {
        if (entry && entry.operation === 'PUT') await this.kv.update(key, String(count + 1), entry.revision);
        else await this.kv.create(key, String(count + 1));
        return 0;
      } catch {
        // another replica counted at the same moment: read again
      }
    }
    return 100;
  }
}
