// The DNS resolver the services use for mail authentication (and, later, routing): the system's
// servers or the ones configured (DNS_SERVERS), with a hard deadline on every query so that a server
// that does not answer turns into an ETIMEOUT error instead of a wait.
import { Resolver } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';

/** A query of one name and record type, answered as node:dns/promises answers `resolve` (TXT: string[][]). */
export type DnsLookup = (name: string, rrtype: string) => Promise<any>;

/**
 * Reads "127.0.0.1:5353,[::1]:53,192.0.2.1" into the server list node:dns accepts; empty = the system's
 * servers. Throws on an entry that is not an address with an optional port.
 */
export function parseDnsServers(text: string): string[] {
  const servers: string[] = [];
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(entry);
    const withPort = /^([^:]+):(\d{1,5})$/.exec(entry);
    const [address, port] = bracketed ? [bracketed[1]!, bracketed[2]] : withPort ? [withPort[1]!, withPort[2]] : [entry, undefined];
    if (!isIP(address) || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
      throw new Error(`bad DNS server "${entry}": expected an IP address with an optional port, e.g. 127.0.0.1:5353 or [::1]:53`);
    }
    servers.push(entry);
  }
  return servers;
}

export interface DnsResolverOptions {
  /** Servers as parseDnsServers gives them; empty = the system's. */
  servers: string[];
  /** Deadline of one query, retries included. */
  timeoutMs: number;
  /** How long an answer (or a name's non-existence) is reused; 0 = every query goes out. */
  cacheMs?: number;
  /** Answers kept at most; the oldest go first. */
  cacheEntries?: number;
}

export function createDnsLookup(options: DnsResolverOptions): DnsLookup {
  const query = queryWithDeadline(options);
  return options.cacheMs ? cachedLookup(query, { cacheMs: options.cacheMs, maxEntries: options.cacheEntries ?? 10_000 }) : query;
}

/** Answers that are the DNS's word (the name or the record type does not exist): reused like answers. Others (timeouts, SERVFAIL) are not. */
const NEGATIVE_ANSWERS = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * Reuses answers for `cacheMs`: mail from one sender domain arrives in bursts, and each message asks the
 * same SPF, DMARC and DKIM questions (measured: the checks cost 0.9 ms CPU per message with no cache).
 * Questions asked while the same one is out share its answer. Node's resolver does not give the TTLs
 * of TXT records, so the reuse time is this fixed bound, kept short (a minute by default) so that a
 * changed DNS record counts within it.
 */
export function cachedLookup(query: DnsLookup, options: { cacheMs: number; maxEntries: number; now?: () => number }): DnsLookup {
  const now = options.now ?? Date.now;
  const answers = new Map<string, { until: number; answer?: unknown; error?: unknown }>();
  const asking = new Map<string, Promise<unknown>>();
  const keep = (key: string, value: { until: number; answer?: unknown; error?: unknown }) => {
    answers.delete(key);
    answers.set(key, value);
    if (answers.size > options.maxEntries) answers.delete(answers.keys().next().value!);
  };
  return async (name, rrtype) => {
    const key = `${rrtype} ${name.toLowerCase()}`;
    const known = answers.get(key);
    if (known && known.until > now()) {
      if (known.error) throw known.error;
      return structuredClone(known.answer); // a caller may change what it gets
    }
    let pending = asking.get(key);
    if (!pending) {
      pending = query(name, rrtype).then(
        (answer: unknown) => {
          keep(key, { until: now() + options.cacheMs, answer });
          return answer;
        },
        (err: unknown) => {
          if (NEGATIVE_ANSWERS.has((err as NodeJS.ErrnoException).code ?? '')) keep(key, { until: now() + options.cacheMs, error: err });
          throw err;
        },
      ).finally(() => asking.delete(key));
      asking.set(key, pending);
    }
    return structuredClone(await pending);
  };
}

function queryWithDeadline(options: DnsResolverOptions): DnsLookup {
  // Two tries per server inside the deadline (a lost UDP packet is retried), then ours applies.
  const resolver = new Resolver({ timeout: Math.max(1, Math.floor(options.timeoutMs / 2)), tries: 2 });
  if (options.servers.length > 0) resolver.setServers(options.servers);
  return (name, rrtype) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(Object.assign(new Error(`DNS query ${rrtype} ${name} timed out`), { code: 'ETIMEOUT' })), options.timeoutMs);
      resolver.resolve(name, rrtype).then(
        (answer) => {
          clearTimeout(timer);
          resolve(answer);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
}

/**
 * A `lookup` for node:net and node:https that answers from a DnsLookup's A records, so that the names a
 * service connects to (MX hosts, MTA-STS policy hosts) resolve through the configured servers too.
 */
export function addressLookup(lookup: DnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    if (isIP(hostname)) {
      if ((options as { all?: boolean }).all) return (callback as unknown as AllCallback)(null, [{ address: hostname, family: isIP(hostname) }]);
      return callback(null, hostname, isIP(hostname));
    }
    lookup(hostname, 'A').then(
      (addresses: string[]) => {
        if (!addresses.length) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENODATA' }), '', 4);
        if ((options as { all?: boolean }).all) return (callback as unknown as AllCallback)(null, addresses.map((address) => ({ address, family: 4 })));
        callback(null, addresses[0]!, 4);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 4),
    );
  };
}

type AllCallback = (err: null, addresses: { address: string; family: number }[]) => void;
