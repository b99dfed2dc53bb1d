// The delivery ledger: which recipients of a queued message a remote server has already answered for
// good, kept by the delivery-agents in a JetStream KV bucket (a key per queue id and recipient). It is
// what makes a remote delivery idempotent, as a local one is in mailbox-store. A message can be handed
// out again while an earlier attempt is running or after it finished: a queue-manager that takes over
// sends the first attempts it finds in the spool afresh, and a batch of jobs whose delivery-agent died
// before acknowledging it is handed out whole. Postfix avoids the same repeat by having its delivery
// agent mark each recipient done in the queue file itself; this is that mark, shared by the replicas.
//
// Before an attempt, each recipient is claimed: a recipient already answered for good (delivered, or
// refused with a 5xx) is reported as then, without a connection; one claimed by another attempt that is
// still alive is deferred (the other attempt's result settles it); the rest are this attempt's. A claim
// lives CLAIM_MS past its last renewal and is renewed while the attempt runs, so the claim of an attempt
// whose process died lapses within minutes and the next attempt takes it over (at least once: the dead
// attempt may have been answered). After the attempt, final outcomes are written and temporary ones give
// their claim back. The bucket forgets a key `keepMs` after its last write.
import { createHash } from 'node:crypto';
import { Kvm, type KV } from '@nats-io/kv';
import { StorageType } from '@nats-io/jetstream';
import { DELIVERY_LEDGER_BUCKET, RecipientResult } from '@mail/contracts';
import type { NatsContext } from '@mail/platform';

/** What the ledger holds for one recipient of one message. */
type LedgerRecord = { state: 'claimed'; jobId: string; until: number } | { state: 'answered'; result: RecipientResult };

/** An attempt's view of its recipients once claimed. */
export interface LedgerClaim {
  /** Recipients answered for good by an earlier attempt: their results as then. */
  readonly answered: RecipientResult[];
  /** Recipients another live attempt is delivering: deferred, that attempt's result settles them. */
  readonly busy: RecipientResult[];
  /** Recipients this attempt delivers. */
  readonly mine: string[];
  /** Records this attempt's results (final ones kept, temporary ones give the claim back) and stops renewing. */
  finish(results: RecipientResult[]): Promise<void>;
}

export interface DeliveryLedgerOptions {
  /** How long a claim lives past its last renewal. */
  claimMs: number;
  /** How long the bucket keeps a key after its last write. */
  keepMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A KV key for a queue id and a recipient (keys allow [-/_=.a-zA-Z0-9]; an address may hold anything else). */
export const ledgerKey = (queueId: string, recipient: string): string =>
  `${queueId}.${createHash('sha256').update(recipient).digest('hex').slice(0, 32)}`;

function readRecord(value: Uint8Array): LedgerRecord | undefined {
  try {
    const record = JSON.parse(decoder.decode(value)) as LedgerRecord;
    if (record.state === 'claimed' && typeof record.jobId === 'string' && typeof record.until === 'number') return record;
    if (record.state === 'answered') {
      const result = RecipientResult.safeParse(record.result);
      if (result.success) return { state: 'answered', result: result.data };
    }
  } catch {
    // not JSON: unreadable
  }
  return undefined;
}

export class DeliveryLedger {
  private constructor(
    private readonly kv: KV,
    private readonly claimMs: number,
    private readonly now: () => number,
  ) {}

  static async open(nats: NatsContext, options: DeliveryLedgerOptions, now: () => number = Date.now): Promise<DeliveryLedger> {
    const kvm = new Kvm(nats.js);
    const kv = await kvm
      .create(DELIVERY_LEDGER_BUCKET, { history: 1, ttl: options.keepMs, storage: StorageType.File, replicas: nats.settings.streamReplicas })
      .catch(() => kvm.open(DELIVERY_LEDGER_BUCKET)); // made already (another replica, an earlier setting): used as it is
    return new DeliveryLedger(kv, options.claimMs, now);
  }

  /** Claims `recipients` of `queueId` for the attempt `jobId`. Rejects when the bucket cannot be reached. */
  async claim(queueId: string, jobId: string, recipients: string[]): Promise<LedgerClaim> {
    const answered: RecipientResult[] = [];
    const busy: RecipientResult[] = [];
    const mine = new Map<string, number>(); // recipient -> revision of our claim
    try {
      for (const recipient of recipients) {
        const verdict = await this.claimOne(ledgerKey(queueId, recipient), jobId);
        if (verdict.kind === 'answered') answered.push({ ...verdict.result, recipient });
        else if (verdict.kind === 'busy') busy.push({ recipient, outcome: 'temporary', reply: '451 4.4.0 being delivered by another attempt; its result settles this recipient' });
        else mine.set(recipient, verdict.revision);
      }
    } catch (err) {
      // The attempt does not go: the claims made so far are given back rather than left to lapse.
      await Promise.all([...mine].map(([recipient, revision]) => this.kv.delete(ledgerKey(queueId, recipient), { previousSeq: revision }).catch(() => undefined)));
      throw err;
    }
    let renewing = Promise.resolve();
    const renewal = mine.size > 0 ? setInterval(() => (renewing = renewing.then(() => this.renew(queueId, jobId, mine))), this.claimMs / 3) : undefined;
    renewal?.unref();
    return {
      answered,
      busy,
      mine: [...mine.keys()],
      finish: async (results) => {
        clearInterval(renewal);
        await renewing; // so that a claim given back is given back at its latest revision
        await Promise.all(
          results
            .filter((result) => mine.has(result.recipient))
            .map((result) => this.record(ledgerKey(queueId, result.recipient), result, mine.get(result.recipient)!)),
        );
      },
    };
  }

  private async claimOne(key: string, jobId: string): Promise<{ kind: 'answered'; result: RecipientResult } | { kind: 'busy' } | { kind: 'mine'; revision: number }> {
    const claim = (): Uint8Array => encoder.encode(JSON.stringify({ state: 'claimed', jobId, until: this.now() + this.claimMs } satisfies LedgerRecord));
    for (let tries = 0; tries < 3; tries++) {
      const entry = await this.kv.get(key);
      if (!entry || entry.operation !== 'PUT') {
        // Nothing there (or a claim given back): ours if nobody takes it first.
        const revision = await (entry ? this.kv.update(key, claim(), entry.revision) : this.kv.create(key, claim())).catch(() => undefined);
        if (revision !== undefined) return { kind: 'mine', revision };
        continue;
      }
      const record = readRecord(entry.value);
      if (record?.state === 'answered') return { kind: 'answered', result: record.result };
      // A live claim of another attempt; a lapsed one (its process died), one of this very job (its batch
      // handed out again after the process that had it died) or an unreadable record is taken over.
      if (record?.state === 'claimed' && record.jobId !== jobId && record.until > this.now()) return { kind: 'busy' };
      const revision = await this.kv.update(key, claim(), entry.revision).catch(() => undefined);
      if (revision !== undefined) return { kind: 'mine', revision };
    }
    return { kind: 'busy' }; // taken by others each time we looked: one of them is delivering it
  }

  /** Pushes the claims' end further while the attempt runs; a claim taken over meanwhile is left to its new owner. */
  private async renew(queueId: string, jobId: string, mine: Map<string, number>): Promise<void> {
    for (const [recipient, revision] of mine) {
      const next = await this.kv
        .update(ledgerKey(queueId, recipient), encoder.encode(JSON.stringify({ state: 'claimed', jobId, until: this.now() + this.claimMs } satisfies LedgerRecord)), revision)
        .catch(() => undefined);
      if (next !== undefined) mine.set(recipient, next);
    }
  }

  private async record(key: string, result: RecipientResult, revision: number): Promise<void> {
    if (result.outcome === 'temporary') {
      // Given back, so that the next attempt need not wait for the claim to lapse.
      await this.kv.delete(key, { previousSeq: revision }).catch(() => undefined);
      return;
    }
    // Written whatever the claim's revision now: the remote server has answered, and that is what counts.
    await this.kv.put(key, encoder.encode(JSON.stringify({ state: 'answered', result } satisfies LedgerRecord)));
  }
}
