// What to do with a message once its authentication is known: accept it (always marked with the
// Authentication-Results header), refuse it (550 5.7.1) or defer it (451 4.7.1). Global and per author
// domain; a DNS failure is never a refusal, and only a deferral where the settings ask for it.
import { parseNetworks } from '@mail/platform';
import type { AuthVerdict } from './verdict.js';

/** `mark`: accept and mark whatever the result. `enforce`: apply the author domain's DMARC policy. */
export type AuthPolicyMode = 'mark' | 'enforce';

export interface AuthPolicy {
  mode: AuthPolicyMode;
  /** By author (From:) domain: "example.com" itself, ".example.com" its subdomains. */
  byDomain: ReadonlyMap<string, AuthPolicyMode>;
  /** Where the mode is enforce and a temporary DNS failure leaves DMARC unknown: accept and mark, or 451. */
  onTemporaryFailure: 'accept' | 'defer';
  /** Clients never refused for authentication (forwarders, mailing lists); their mail is still marked. */
  allow: AllowList;
}

export interface AllowList {
  network: (address: string) => boolean;
  /** MAIL FROM domains, honoured only when SPF authorised the client for them (so they cannot be forged). */
  senderDomains: ReadonlySet<string>;
}

export type PolicyDecision = { action: 'accept' } | { action: 'reject'; domain: string } | { action: 'defer'; domain: string; why: string };

/** "example.com=enforce,.example.org=mark": mode per author domain; throws on a bad entry. */
export function parseDomainModes(text: string): Map<string, AuthPolicyMode> {
  const modes = new Map<string, AuthPolicyMode>();
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const [domain = '', mode = ''] = entry.split('=').map((p) => p.trim());
    if (!/^\.?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(domain) || (mode !== 'mark' && mode !== 'enforce')) {
      throw new Error(`bad entry "${entry}": expected domain=mark or domain=enforce (".domain" for its subdomains)`);
    }
    modes.set(domain.toLowerCase(), mode);
  }
  return modes;
}

/** "192.0.2.0/24,lists.example.org": client networks and SPF-authorised MAIL FROM domains; throws on a bad entry. */
export function parseAllowList(text: string): AllowList {
  const networks: string[] = [];
  const senderDomains = new Set<string>();
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    if (/^[0-9.]+(?:\/\d+)?$/.test(entry) || entry.includes(':')) networks.push(entry);
    else if (/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(entry)) senderDomains.add(entry.toLowerCase());
    else throw new Error(`bad entry "${entry}": expected a network (192.0.2.0/24) or a domain`);
  }
  return { network: parseNetworks(networks.join(',')), senderDomains };
}

/** The mode for an author domain: its own entry, else the nearest parent's ".parent" entry, else the global one. */
export function modeFor(policy: AuthPolicy, domain: string | undefined): AuthPolicyMode {
  if (!domain) return policy.mode;
  const name = domain.toLowerCase();
  const exact = policy.byDomain.get(name);
  if (exact) return exact;
  for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
    const parent = policy.byDomain.get(name.slice(dot));
    if (parent) return parent;
  }
  return policy.mode;
}

export function decide(verdict: AuthVerdict, policy: AuthPolicy, clientAddress: string): PolicyDecision {
  const domain = verdict.authorDomain;
  if (!domain || modeFor(policy, domain) === 'mark') return { action: 'accept' };
  if (policy.allow.network(clientAddress)) return { action: 'accept' };
  if (verdict.spfPassDomain && policy.allow.senderDomains.has(verdict.spfPassDomain.toLowerCase())) return { action: 'accept' };
  const { result, policy: published } = verdict.dmarc;
  // A fail that a failed lookup may have caused is a temporary error (RFC 7489 §6.6.2), never a refusal.
  const temporary = result === 'temperror' || (result === 'fail' && verdict.temporaryFailure);
  if (temporary) return policy.onTemporaryFailure === 'defer' ? { action: 'defer', domain, why: 'a temporary DNS failure left authentication unknown' } : { action: 'accept' };
  if (result !== 'fail') return { action: 'accept' };
  if (published === 'reject') return { action: 'reject', domain };
  if (published === 'quarantine') return { action: 'defer', domain, why: 'authentication (DMARC) failed under a quarantine policy' };
  return { action: 'accept' };
}
