// Where mail for a domain goes (RFC 5321 §5.1): a configured transport first (smart hosts, tests),
// else MX records by preference (equal preferences shuffled), else the domain's own address
// records (implicit MX); a null MX (RFC 7505) means the domain takes no mail at all.
import { promises as dns } from 'node:dns';
import type { DnsLookup } from '@mail/platform';

export interface Hop {
  host: string;
  port: number;
}

/** `configured`: a transport map entry or an address literal, not MX records (MTA-STS applies to MX records only). */
export type Route = { kind: 'hops'; hops: Hop[]; configured?: boolean } | { kind: 'no-mail'; reply: string } | { kind: 'unresolvable'; reply: string; permanent: boolean };

export interface MxResolver {
  resolveMx(domain: string): Promise<{ exchange: string; priority: number }[]>;
  /** True when the name has an A or AAAA record. */
  hasAddress(domain: string): Promise<boolean>;
}

export const systemResolver: MxResolver = {
  resolveMx: (domain) => dns.resolveMx(domain),
  hasAddress: async (domain) => {
    const [v4, v6] = await Promise.allSettled([dns.resolve4(domain), dns.resolve6(domain)]);
    return (v4.status === 'fulfilled' && v4.value.length > 0) || (v6.status === 'fulfilled' && v6.value.length > 0);
  },
};

/** MX and address lookups through a configured resolver (libs/platform dns.ts). */
export function resolverFromLookup(lookup: DnsLookup): MxResolver {
  return {
    resolveMx: (domain) => lookup(domain, 'MX'),
    hasAddress: async (domain) => {
      const [v4, v6] = await Promise.allSettled([lookup(domain, 'A'), lookup(domain, 'AAAA')]);
      return (v4.status === 'fulfilled' && v4.value.length > 0) || (v6.status === 'fulfilled' && v6.value.length > 0);
    },
  };
}

/**
 * Parses a transport map: "example.com=10.0.0.5:25,.example.org=relay:2525,*=smarthost:587".
 * A leading dot matches subdomains; "*" matches everything else.
 */
export function parseTransportMap(text: string): Map<string, Hop> {
  const map = new Map<string, Hop>();
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=');
    const target = entry.slice(eq + 1);
    const colon = target.lastIndexOf(':');
    if (eq <= 0 || colon <= 0) throw new Error(`transport map entry "${entry}" is not domain=host:port`);
    const port = Number(target.slice(colon + 1));
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`transport map entry "${entry}" has a bad port`);
    map.set(entry.slice(0, eq).toLowerCase(), { host: target.slice(0, colon).replace(/^\[|\]$/g, ''), port });
  }
  return map;
}

export function transportFor(map: Map<string, Hop>, domain: string): Hop | undefined {
  const name = domain.toLowerCase();
  if (map.has(name)) return map.get(name);
  for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
    const hop = map.get(name.slice(dot));
    if (hop) return hop;
  }
  return map.get('*');
}

/** MX records sorted by preference; records of equal preference in random order (RFC 5321 §5.1). */
export function orderMx(records: { exchange: string; priority: number }[], random: () => number = Math.random): string[] {
  return records
    .map((r) => ({ ...r, tiebreak: random() }))
    .sort((a, b) => a.priority - b.priority || a.tiebreak - b.tiebreak)
    .map((r) => r.exchange.replace(/\.$/, ''));
}

const DNS_PERMANENT = new Set(['ENOTFOUND', 'ENODATA']);

export async function route(domain: string, transports: Map<string, Hop>, resolver: MxResolver, smtpPort = 25): Promise<Route> {
  const transport = transportFor(transports, domain);
  if (transport) return { kind: 'hops', hops: [transport], configured: true };
  const literal = /^\[(?:IPv6:)?([^\]]+)\]$/i.exec(domain);
  if (literal) return { kind: 'hops', hops: [{ host: literal[1]!, port: smtpPort }], configured: true };
  let records: { exchange: string; priority: number }[] = [];
  try {
    records = await resolver.resolveMx(domain);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (!DNS_PERMANENT.has(code)) return { kind: 'unresolvable', permanent: false, reply: `451 4.4.3 DNS lookup for ${domain} failed (${code})` };
  }
  if (records.length === 1 && records[0]!.exchange.replace(/\.$/, '') === '') {
    return { kind: 'no-mail', reply: `556 5.1.10 ${domain} does not accept mail (null MX, RFC 7505)` };
  }
  const exchanges = orderMx(records.filter((r) => r.exchange.replace(/\.$/, '') !== ''));
  if (exchanges.length > 0) return { kind: 'hops', hops: exchanges.map((host) => ({ host, port: smtpPort })) };
  // No MX: the domain itself is the implicit MX if it has an address (RFC 5321 §5.1).
  try {
    if (await resolver.hasAddress(domain)) return { kind: 'hops', hops: [{ host: domain, port: smtpPort }] };
  } catch {
    return { kind: 'unresolvable', permanent: false, reply: `451 4.4.3 DNS lookup for ${domain} failed` };
  }
  return { kind: 'unresolvable', permanent: true, reply: `550 5.1.2 ${domain} has no MX or address records` };
}
