// The DNS resolver the services use for mail authentication (and, later, routing): the system's
// servers or the ones configured (DNS_SERVERS), with a hard deadline on every query so that a server
// that does not answer turns into an ETIMEOUT error instead of a wait.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

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
}

export function createDnsLookup(options: DnsResolverOptions): DnsLookup {
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
