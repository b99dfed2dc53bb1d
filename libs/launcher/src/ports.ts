// Free loopback ports for the servers a test starts. They are picked below the kernel's ephemeral
// range (outgoing connections take ports from that range, so a port found free there can be taken by
// a client socket before our server binds it), checked by binding, and never handed out twice by
// one process. Not 10080 either: it is on the Fetch standard's list of "bad ports", and Node's fetch,
// which the readiness checks use, refuses to connect to it.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const handedOut = new Set<number>();

/** The lowest ephemeral port (Linux: /proc/sys/net/ipv4/ip_local_port_range), 32768 when unknown. */
function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return low && low > 12_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

const RANGE_START = 10_000;
const RANGE_END = ephemeralStart();
/** Where freePort draws from: [start, end). */
export const PORT_RANGE = { start: RANGE_START, end: RANGE_END } as const;
/** The Fetch standard's bad ports within the range (https://fetch.spec.whatwg.org/#port-blocking). */
export const FETCH_BLOCKED_PORTS: ReadonlySet<number> = new Set([10080]);

/** Whether this process could listen on 127.0.0.1:port now. */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = RANGE_START + Math.floor(Math.random() * (RANGE_END - RANGE_START));
    if (handedOut.has(port) || FETCH_BLOCKED_PORTS.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found between ${RANGE_START} and ${RANGE_END}`);
}

/** Resolves once something accepts TCP connections on the port, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 20_000, host = '127.0.0.1'): Promise<void> {
  const { connect } = await import('node:net');
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ port, host });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
