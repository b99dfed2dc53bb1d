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

export class PolicySource {
  constructor(
    private readonly lookup: DnsLookup,
    private readonly store: PolicyStore,
    private readonly fetchOptions: Omit<PolicyFetchOptions, 'lookup'>,
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

    try {
      const policy = parsePolicy(await this.fetchText(name, { ...this.fetchOptions, lookup: this.lookup }));
      await this.store.put(name, { id, policy, expiresAt: this.now() + policy.maxAge * 1000 }).catch(() => undefined);
      return { kind: 'policy', id, policy, source: 'fetched' };
    } catch (err) {
      if (fresh) return fromCache();
      const resultType = err instanceof PolicyFetchError ? err.resultType : err instanceof PolicySyntaxError ? 'sts-policy-invalid' : 'sts-policy-fetch-error';
      return { kind: 'unavailable', resultType, reason: (err as Error).message };
    }
  }
}
