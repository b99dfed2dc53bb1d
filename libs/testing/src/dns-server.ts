// A small authoritative DNS server on loopback (UDP and TCP, with the dns2 library) that serves the
// records a test puts in it: SPF, DKIM keys and DMARC as TXT, and A. The services' resolver is pointed
// at it with DNS_SERVERS. A name not in the zone is NXDOMAIN; a name that is "silent" gets no answer at
// all, as from a DNS server that is down.
import { createServer, Packet } from 'dns2';
import { freePort } from '@mail/launcher';

export interface TestDnsServer {
  /** "127.0.0.1:port", for DNS_SERVERS. */
  address: string;
  /** Adds a TXT record (split into 255-octet strings as RFC 1035 §3.3.14 needs). */
  txt(name: string, text: string): void;
  a(name: string, address: string): void;
  mx(name: string, exchange: string, priority?: number): void;
  /** Removes every record of the name (a record that changes: remove, then add). */
  remove(name: string): void;
  /** No answer, ever, for this name and the names under it. */
  silence(name: string): void;
  /** The queries seen, as "TYPE name", in order. */
  queries: string[];
  close(): Promise<void>;
}

const normal = (name: string) => name.toLowerCase().replace(/\.$/, '');

export async function startDnsServer(): Promise<TestDnsServer> {
  const records = new Map<string, { type: number; data: string | string[] | undefined; address?: string; exchange?: string; priority?: number }[]>();
  const silent = new Set<string>();
  const queries: string[] = [];
  const isSilent = (name: string) => [...silent].some((s) => name === s || name.endsWith(`.${s}`));
  const server = createServer({
    udp: true,
    tcp: true,
    handle: (request, send) => {
      const [question] = request.questions;
      if (!question) return;
      const name = normal(question.name);
      queries.push(`${Object.keys(Packet.TYPE).find((k) => Packet.TYPE[k as keyof typeof Packet.TYPE] === question.type) ?? question.type} ${name}`);
      if (isSilent(name)) return;
      const response = Packet.createResponseFromRequest(request);
      response.header.aa = 1;
      const known = records.get(name);
      if (!known) response.header.rcode = Packet.RCODE.NXDOMAIN;
      for (const record of known ?? []) {
        if (record.type !== question.type) continue;
        response.answers.push({ name: question.name, type: record.type, class: Packet.CLASS.IN, ttl: 1, ...(record.address ? { address: record.address } : record.exchange ? { exchange: record.exchange, priority: record.priority } : { data: record.data }) } as never);
      }
      void send(response);
    },
  });
  const port = await freePort();
  await server.listen({ udp: { port, address: '127.0.0.1' }, tcp: { port, address: '127.0.0.1' } });
  const add = (name: string, record: { type: number; data?: string[]; address?: string; exchange?: string; priority?: number }) => {
    const key = normal(name);
    records.set(key, [...(records.get(key) ?? []), { type: record.type, data: record.data, address: record.address, exchange: record.exchange, priority: record.priority }]);
  };
  return {
    address: `127.0.0.1:${port}`,
    queries,
    txt: (name, text) => add(name, { type: Packet.TYPE.TXT, data: text.match(/[^]{1,255}/g) ?? [''] }),
    a: (name, address) => add(name, { type: Packet.TYPE.A, address }),
    remove: (name) => void records.delete(normal(name)),
    mx: (name, exchange, priority = 10) => add(name, { type: Packet.TYPE.MX, exchange, priority }),
    silence: (name) => void silent.add(normal(name)),
    close: async () => {
      await server.close();
    },
  };
}
