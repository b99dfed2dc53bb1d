// The back-off of a destination that failed, shared by the whole cluster of delivery-agents: a key per
// domain in a JetStream KV bucket whose TTL is the back-off time. (Connection and rate limits per
// domain are queue-manager's: it admits jobs.)
import { Kvm, type KV } from '@nats-io/kv';
import { StorageType } from '@nats-io/jetstream';
import type { NatsContext } from '@mail/platform';
import { BACKOFF_BUCKET } from '@mail/contracts';

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
    return new SharedDomainBackoff(await openTtlBucket(nats, BACKOFF_BUCKET, backoffMs));
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
