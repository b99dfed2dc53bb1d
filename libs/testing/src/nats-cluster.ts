// A three-node JetStream cluster of real nats-server processes on loopback, for failover tests: each
// node has its own client port, route port and store directory, and can be killed (-9), stopped
// (SIGTERM, as a rolling restart does) and started again on the same ports and data.
import { mkdir } from 'node:fs/promises';
import { pino } from 'pino';
import { connectNats, loadNatsSettings } from '@mail/platform';
import { join } from 'node:path';
import { findNatsServer, freePort, startProcess, waitForPort, type ManagedProcess } from '@mail/launcher';

export interface NatsCluster {
  /** Every node's client URL, comma-separated (NATS_URL). */
  url: string;
  size: number;
  kill(node: number): Promise<void>;
  stop(node: number): Promise<void>;
  start(node: number): Promise<void>;
  stopAll(): Promise<void>;
}

/** Resolves once the cluster has elected its JetStream meta leader and answers the JetStream API. */
async function waitForJetStream(url: string, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  const logger = pino({ level: 'silent' });
  for (;;) {
    try {
      const nats = await connectNats(url, 'cluster-probe', logger, loadNatsSettings(env));
      try {
        await nats.jsm.getAccountInfo();
        return;
      } finally {
        await nats.nc.close();
      }
    } catch (err) {
      if (Date.now() > until) throw new Error(`the NATS cluster has no JetStream after ${timeoutMs} ms: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * `configFile`: a configuration file every node reads (the users of libs/launcher nats-auth.ts); `probeAs`: the
 * credentials (NATS_USER, NATS_PASSWORD) to ask whether JetStream is up with, when it has users.
 */
export async function startNatsCluster(
  dataDir: string,
  options: { size?: number; echo?: boolean; configFile?: string; probeAs?: Record<string, string>; watch?: (text: string) => void } = {},
): Promise<NatsCluster> {
  const size = options.size ?? 3;
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
  }
  const routes = routePorts.map((port) => `nats://127.0.0.1:${port}`).join(',');
  const nodes: (ManagedProcess | undefined)[] = new Array(size).fill(undefined);
  const start = async (i: number) => {
    const storeDir = join(dataDir, `node-${i}`);
    await mkdir(storeDir, { recursive: true });
    const args = [...(options.configFile ? ['-c', options.configFile] : []), '-js', '-a', '127.0.0.1', '-p', String(clientPorts[i]), '-sd', storeDir, '-n', `node-${i}`];
    args.push('--cluster_name', 'mail-test', '--cluster', `nats://127.0.0.1:${routePorts[i]}`, '--routes', routes);
    nodes[i] = startProcess(`nats-${i}`, findNatsServer(), args, process.env, { echo: options.echo, watch: options.watch });
    await waitForPort(clientPorts[i]!);
  };
  await Promise.all(Array.from({ length: size }, (_, i) => start(i)));
  const url = clientPorts.map((port) => `nats://127.0.0.1:${port}`).join(',');
  await waitForJetStream(url, options.probeAs ?? {});
  return {
    url,
    size,
    kill: async (i) => {
      await nodes[i]?.kill();
      nodes[i] = undefined;
    },
    stop: async (i) => {
      await nodes[i]?.stop(30_000);
      nodes[i] = undefined;
    },
    start,
    stopAll: async () => {
      await Promise.all(nodes.map((node) => node?.stop()));
    },
  };
}
