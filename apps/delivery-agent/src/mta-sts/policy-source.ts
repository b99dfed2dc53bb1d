// A recipient domain's MTA-STS policy as delivery needs it (RFC 8461 §3.3, §5.1): the `_mta-sts` TXT
// id first; a cached, unexpired policy with the same id is used as it is; otherwise the policy is
// fetched and cached for max_age. When the TXT lookup or the fetch fails, an unexpired cached policy
// still holds (§5.1: that is the point of caching); without one the domain is treated as having none,
// and the failure is reported (TLS-RPT sts-policy-fetch-error / sts-webpki-invalid / sts-policy-invalid).
import type { DnsLookup } from '@mail/platform';
import { fetchPolicyText, PolicyFetchError, type PolicyFetchOptions } from './fetch.js';
import { parsePolicy, parseStsRecord, PolicySyntaxError, type StsPolicy } from './policy.js';
import type { PolicyStore } from './policy-store.js';

export type PolicyResult =
  | { kind: 'none' }
  | { kind: 'policy'; id: string; policy: StsPolicy; /** Where it came from this time. */ source: 'cache' | 'fetched' }
  | { kind: 'unavailable'; resultType: 'sts-policy-fetch-error' | 'sts-webpki-invalid' | 'sts-policy-invalid'; reason: string };

const NO_RECORD = new Set(['ENOTFOUND', 'ENODATA']);

export interface PolicySourceOptions extends Omit<PolicyFetchOptions, 'lookup'> {
  /** A failed fetch (no cached policy to fall back on) is not tried again for this long, for the same TXT id: a dead policy host must not cost every delivery a fetch timeout. */
  retryFailedAfterMs?: number;
}

export class PolicySource {
  /** Recent failures by "domain id", in this process; bounded. */
  private readonly failures = new Map<string, { until: number; result: PolicyResult }>();

  constructor(
    private readonly lookup: DnsLookup,
    private readonly store: PolicyStore,
    private readonly fetchOptions: PolicySourceOptions,
    private readonly now: () => number = Date.now,
    private readonly fetchText: (domain: string, options: PolicyFetchOptions) => Promise<string> = fetchPolicyText,
  ) {}

  async policyFor(domain: string): Promise<PolicyResult> {
    const name = domain.toLowerCase();
    const cached = await this.store.get(name).catch(() => undefined);
    const fresh = cached && cached.expiresAt > this.now() ? cached : undefined;
    const fromCache = (): PolicyResult => (fresh ? { kind: 'policy', id: fresh.id, policy: fresh.policy, source: 'cache' } : { kind: 'none' });

    let id: string | undefined;
    try {
      id = parseStsRecord(await this.lookup(`_mta-sts.${name}`, 'TXT'));
    } catch (err) {
      if (!NO_RECORD.has((err as NodeJS.ErrnoException).code ?? '')) return fromCache(); // DNS trouble: what we know holds
    }
    if (id === undefined || fresh?.id === id) return fromCache();
    const failureKey = `${name} ${id}`;
    const failed = this.failures.get(failureKey);
    if (failed && failed.until > this.now()) return fresh ? fromCache() : failed.result;

    try {
      const policy = parsePolicy(await this.fetchText(name, { ...this.fetchOptions, lookup: this.lookup }));
      await this.store.put(name, { id, policy, expiresAt: this.now() + policy.maxAge * 1000 }).catch(() => undefined);
      return { kind: 'policy', id, policy, source: 'fetched' };
    } catch (err) {
      if (fresh) return fromCache();
      const resultType = err instanceof PolicyFetchError ? err.resultType : err instanceof PolicySyntaxError ? 'sts-policy-invalid' : 'sts-policy-fetch-error';
      const result: PolicyResult = { kind: 'unavailable', resultType, reason: (err as Error).message };
      const retryMs = this.fetchOptions.retryFailedAfterMs ?? 0;
      if (retryMs > 0) {
        this.failures.set(failureKey, { until: this.now() + retryMs, result });
        if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
      }
      return result;
    }
  }
}
