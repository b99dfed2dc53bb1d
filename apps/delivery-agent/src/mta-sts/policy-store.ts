// Where fetched MTA-STS policies are kept (RFC 8461 §5.1 caching): a JetStream KV bucket shared by the
// replicas and kept over restarts, or, without NATS, this process's memory.
import { Kvm, type KV } from '@nats-io/kv';
import { StorageType } from '@nats-io/jetstream';
import { MTA_STS_BUCKET } from '@mail/contracts';
import type { NatsContext } from '@mail/platform';
import { domainKey } from '../shared-limits.js';
import type { StsPolicy } from './policy.js';

export interface CachedPolicy {
  /** The `_mta-sts` TXT id the policy was fetched under: a different id means fetch again. */
  id: string;
  policy: StsPolicy;
  /** Epoch ms when max_age runs out. */
  expiresAt: number;
}

export interface PolicyStore {
  get(domain: string): Promise<CachedPolicy | undefined>;
  put(domain: string, entry: CachedPolicy): Promise<void>;
}

/** A bounded map: the oldest entries go first. */
export class MemoryPolicyStore implements PolicyStore {
  private readonly entries = new Map<string, CachedPolicy>();
  constructor(private readonly maxEntries = 10_000) {}
  async get(domain: string): Promise<CachedPolicy | undefined> {
    return this.entries.get(domain.toLowerCase());
  }
  async put(domain: string, entry: CachedPolicy): Promise<void> {
    this.entries.delete(domain.toLowerCase());
    this.entries.set(domain.toLowerCase(), entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}

const decoder = new TextDecoder();

/** The bucket `mta-sts-policies`: entries live as long as the longest max_age allows (one year), and are checked against their own expiry. */
export class KvPolicyStore implements PolicyStore {
  private constructor(private readonly kv: KV) {}

  static async open(nats: NatsContext): Promise<KvPolicyStore> {
    const kvm = new Kvm(nats.js);
    const options = { history: 1, ttl: 31_557_600_000, storage: StorageType.File, replicas: nats.settings.streamReplicas };
    return new KvPolicyStore(await kvm.create(MTA_STS_BUCKET, options).catch(() => kvm.open(MTA_STS_BUCKET)));
  }

  async get(domain: string): Promise<CachedPolicy | undefined> {
    const entry = await this.kv.get(domainKey(domain)).catch(() => null);
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) return undefined;
    try {
      return JSON.parse(decoder.decode(entry.value)) as CachedPolicy;
    } catch {
      return undefined; // a damaged entry is a cache miss
    }
  }

  async put(domain: string, entry: CachedPolicy): Promise<void> {
    await this.kv.put(domainKey(domain), JSON.stringify(entry));
  }
}
