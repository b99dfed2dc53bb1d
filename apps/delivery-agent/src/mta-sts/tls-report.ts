// TLS-RPT data (RFC 8460): for each policy domain and UTC day, the sessions that negotiated TLS as the
// policy asks and those that failed, with each failure's result type (§4.3) and MX host; and the JSON
// report (§4.4) made from them. Counted by every replica into one KV entry per day and domain
// (bucket `tls-reports`, updated compare-and-set) or, without NATS, in this process's memory.
import { Kvm, type KV } from '@nats-io/kv';
import { StorageType } from '@nats-io/jetstream';
import { TLS_REPORT_BUCKET } from '@mail/contracts';
import type { NatsContext } from '@mail/platform';
import { createHash } from 'node:crypto';
import type { PendingPost, ReportMarks } from './report-sender.js';

/** RFC 8460 §4.3 result types we can produce (no DANE: no tlsa-* or dnssec-*). */
export type TlsResultType =
  | 'starttls-not-supported'
  | 'certificate-host-mismatch'
  | 'certificate-expired'
  | 'certificate-not-trusted'
  | 'validation-failure'
  | 'sts-policy-fetch-error'
  | 'sts-policy-invalid'
  | 'sts-webpki-invalid';

export interface TlsPolicyDescription {
  type: 'sts' | 'no-policy-found';
  /** The policy file's lines (sts). */
  lines: string[];
  /** The policy's mx patterns. */
  mxHosts: string[];
}

export interface SessionRecord {
  policyDomain: string;
  policy: TlsPolicyDescription;
  /** The domain's `rua` addresses (from its _smtp._tls record). */
  rua: string[];
  failure?: { resultType: TlsResultType; receivingMxHostname: string; detail: string };
}

export interface DailyTlsData {
  policyDomain: string;
  /** "YYYY-MM-DD", UTC. */
  day: string;
  rua: string[];
  policy: TlsPolicyDescription;
  successful: number;
  failed: number;
  failures: { resultType: TlsResultType; receivingMxHostname: string; count: number; detail: string }[];
}

export interface TlsReportStore {
  record(session: SessionRecord, at?: Date): Promise<void>;
  /** The days kept, newest first; of one domain when given. */
  list(domain?: string): Promise<DailyTlsData[]>;
}

const dayOf = (at: Date) => at.toISOString().slice(0, 10);
/** Failure kinds kept per day and domain at most: a hostile domain cannot grow an entry without bound. */
const MAX_FAILURE_KINDS = 50;

/** Adds one session to a day's data (pure: the KV and memory stores share it). */
export function addSession(data: DailyTlsData | undefined, session: SessionRecord, day: string): DailyTlsData {
  const next: DailyTlsData = data
    ? { ...data, failures: data.failures.map((f) => ({ ...f })) }
    : { policyDomain: session.policyDomain, day, rua: session.rua, policy: session.policy, successful: 0, failed: 0, failures: [] };
  next.rua = session.rua;
  next.policy = session.policy;
  if (!session.failure) next.successful++;
  else {
    next.failed++;
    const { resultType, receivingMxHostname, detail } = session.failure;
    const known = next.failures.find((f) => f.resultType === resultType && f.receivingMxHostname === receivingMxHostname);
    if (known) known.count++;
    else if (next.failures.length < MAX_FAILURE_KINDS) next.failures.push({ resultType, receivingMxHostname, count: 1, detail: detail.slice(0, 300) });
  }
  return next;
}

/** The RFC 8460 §4.4 report of one domain's day. */
export function tlsReport(data: DailyTlsData, organization: string, contact: string): Record<string, unknown> {
  return {
    'organization-name': organization,
    'date-range': { 'start-datetime': `${data.day}T00:00:00Z`, 'end-datetime': `${data.day}T23:59:59Z` },
    'contact-info': contact,
    'report-id': `${data.day}.${data.policyDomain}@${organization}`,
    policies: [
      {
        policy: {
          'policy-type': data.policy.type,
          ...(data.policy.type === 'sts' ? { 'policy-string': data.policy.lines, 'mx-host': data.policy.mxHosts } : {}),
          'policy-domain': data.policyDomain,
        },
        summary: { 'total-successful-session-count': data.successful, 'total-failure-session-count': data.failed },
        'failure-details': data.failures.map((f) => ({
          'result-type': f.resultType,
          'receiving-mx-hostname': f.receivingMxHostname,
          'failed-session-count': f.count,
          'additional-information': f.detail,
        })),
      },
    ],
  };
}

export class MemoryTlsReportStore implements TlsReportStore {
  private readonly days = new Map<string, DailyTlsData>();
  async record(session: SessionRecord, at = new Date()): Promise<void> {
    const key = `${dayOf(at)}.${session.policyDomain}`;
    this.days.set(key, addSession(this.days.get(key), session, dayOf(at)));
  }
  async list(domain?: string): Promise<DailyTlsData[]> {
    return [...this.days.values()].filter((d) => !domain || d.policyDomain === domain.toLowerCase()).sort((a, b) => b.day.localeCompare(a.day));
  }
}

const decoder = new TextDecoder();
/** Days kept: a week, so that a daily report can still be made after an outage. */
const KEEP_MS = 8 * 24 * 3600 * 1000;

export class KvTlsReportStore implements TlsReportStore {
  private constructor(private readonly kv: KV) {}

  static async open(nats: NatsContext): Promise<KvTlsReportStore> {
    const kvm = new Kvm(nats.js);
    const options = { history: 1, ttl: KEEP_MS, storage: StorageType.File, replicas: nats.settings.streamReplicas };
    return new KvTlsReportStore(await kvm.create(TLS_REPORT_BUCKET, options).catch(() => kvm.open(TLS_REPORT_BUCKET)));
  }

  /** This process's updates, one after another: they would only collide with each other. */
  private queue: Promise<void> = Promise.resolve();

  record(session: SessionRecord, at = new Date()): Promise<void> {
    const done = this.queue.then(() => this.update(session, at));
    this.queue = done.catch(() => undefined);
    return done;
  }

  /** Read, add, write back if nobody wrote in between (another replica may count the same day); tries again after a short random pause. */
  private async update(session: SessionRecord, at: Date): Promise<void> {
    const day = dayOf(at);
    const key = `${day}.${keyPart(session.policyDomain)}`;
    for (let attempt = 0; attempt < 20; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
      const entry = await this.kv.get(key);
      const current = entry && entry.operation === 'PUT' && entry.length > 0 ? (JSON.parse(decoder.decode(entry.value)) as DailyTlsData) : undefined;
      const next = JSON.stringify(addSession(current, session, day));
      try {
        if (entry && entry.operation === 'PUT') await this.kv.update(key, next, entry.revision);
        else await this.kv.create(key, next);
        return;
      } catch {
        // written in between: read again
      }
    }
    throw new Error(`TLS-RPT counts of ${session.policyDomain} could not be updated (too much contention)`);
  }

  /** Creates the key if nobody has: true for the one caller that did. */
  async claimKey(key: string): Promise<boolean> {
    return this.kv.create(key, new Date().toISOString()).then(
      () => true,
      () => false,
    );
  }

  async releaseKey(key: string): Promise<void> {
    await this.kv.delete(key);
  }

  /** The marks a report sender needs, on this bucket: `sent.<day>.<domain>` claims, `post.<day>.<domain>.<url hash>` posts owed. */
  reportMarks(): ReportMarks {
    const postKey = (post: PendingPost) => `post.${post.day}.${keyPart(post.policyDomain)}.${createHash('sha256').update(post.url).digest('hex').slice(0, 24)}`;
    return {
      list: () => this.list(),
      claim: (day, domain) => this.claimKey(`sent.${day}.${keyPart(domain)}`),
      release: (day, domain) => this.releaseKey(`sent.${day}.${keyPart(domain)}`),
      owePost: async (post) => {
        await this.kv.create(postKey(post), JSON.stringify(post)).catch(() => undefined); // already owed: kept as it is
      },
      posts: async () => {
        const owed: { post: PendingPost; revision: number }[] = [];
        for await (const key of await this.kv.keys('post.>')) {
          const entry = await this.kv.get(key);
          if (entry && entry.operation === 'PUT' && entry.length > 0) owed.push({ post: JSON.parse(decoder.decode(entry.value)) as PendingPost, revision: entry.revision });
        }
        return owed.sort((a, b) => a.post.nextAttemptAt - b.post.nextAttemptAt);
      },
      takePost: (post, revision) => this.kv.update(postKey(post), JSON.stringify(post), revision).then(
        () => true,
        () => false,
      ),
      dropPost: async (post) => {
        await this.kv.delete(postKey(post));
      },
    };
  }

  async list(domain?: string): Promise<DailyTlsData[]> {
    const days: DailyTlsData[] = [];
    const keys = await this.kv.keys(domain ? `*.${keyPart(domain)}` : undefined);
    for await (const key of keys) {
      if (key.startsWith('sent.') || key.startsWith('post.')) continue;
      const entry = await this.kv.get(key);
      if (entry && entry.operation === 'PUT' && entry.length > 0) days.push(JSON.parse(decoder.decode(entry.value)) as DailyTlsData);
    }
    return days.sort((a, b) => b.day.localeCompare(a.day) || a.policyDomain.localeCompare(b.policyDomain));
  }
}

/** A KV key token: a plain domain as it is; anything else as hex. Dots are kept: the day is the first token. */
const keyPart = (domain: string) => {
  const name = domain.toLowerCase();
  return /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/.test(name) ? name : `x${Buffer.from(name).toString('hex')}`;
};
