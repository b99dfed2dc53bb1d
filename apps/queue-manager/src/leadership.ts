// One active queue-manager at a time: the single owner of time and admission (as Postfix runs one
// qmgr). The leader holds a lease, a key in a KV bucket whose entries expire after the lease time,
// renewed by compare-and-set well before that; the other replicas wait and take the key when it
// expires. A leader that fails to renew has lost the queue and stops at once: its state is all in
// JetStream, and the compare-and-set on every entry fences any write it had under way.
import { Kvm, type KV } from '@nats-io/kv';
import { StorageType } from '@nats-io/jetstream';
import type { NatsContext } from '@mail/platform';
import { LEADER_BUCKET } from '@mail/contracts';

export { LEADER_BUCKET } from '@mail/contracts';
const LEADER_KEY = 'queue-manager';

export interface Leadership {
  /** Resolves when this process holds the lease (never, if released first). */
  acquired: Promise<void>;
  /** Gives the lease up (shutdown) so another replica takes over at once. */
  release(): Promise<void>;
}

export async function campaign(
  nats: NatsContext,
  instance: string,
  leaseMs: number,
  onLost: () => void,
): Promise<Leadership> {
  const kvm = new Kvm(nats.js);
  let kv: KV;
  try {
    kv = await kvm.create(LEADER_BUCKET, { history: 1, ttl: leaseMs, storage: StorageType.File, replicas: nats.settings.streamReplicas });
  } catch {
    kv = await kvm.open(LEADER_BUCKET);
  }
  let revision = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const tryTake = async (): Promise<boolean> => {
    try {
      revision = await kv.create(LEADER_KEY, instance);
      return true;
    } catch {
      // Held: by ourselves before a restart (same instance name), we may take it over at once.
      const current = await kv.get(LEADER_KEY).catch(() => null);
      if (current && current.operation === 'PUT' && current.string() === instance) {
        try {
          revision = await kv.update(LEADER_KEY, instance, current.revision);
          return true;
        } catch {
          return false;
        }
      }
      return false;
    }
  };

  const acquired = (async () => {
    while (!stopped && !(await tryTake().catch(() => false))) await new Promise((r) => setTimeout(r, Math.max(200, leaseMs / 4)));
    if (stopped) return new Promise<void>(() => undefined); // released before it was ever held: never acquired
    let renewedAt = Date.now();
    const renew = async () => {
      if (stopped) return;
      try {
        revision = await kv.update(LEADER_KEY, instance, revision);
        renewedAt = Date.now();
        timer = setTimeout(() => void renew(), leaseMs / 3);
      } catch {
        // A broker blip is survived while the lease lasts; someone else's key, or an expired lease, is not.
        const current = await kv.get(LEADER_KEY).catch(() => undefined);
        if (current && current.operation === 'PUT' && current.string() === instance) revision = current.revision;
        const held = current === undefined || (current !== null && current.operation === 'PUT' && current.string() === instance);
        if (!stopped && (!held || Date.now() - renewedAt > leaseMs * 0.8)) onLost();
        else timer = setTimeout(() => void renew(), 250);
      }
    };
    timer = setTimeout(() => void renew(), leaseMs / 3);
  })();

  return {
    acquired,
    release: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (revision > 0) await kv.delete(LEADER_KEY, { previousSeq: revision }).catch(() => undefined);
    },
  };
}
