// The whole system for the end-to-end tests: the launcher's processes (libs/launcher) on free loopback
// ports, with the test kit's conveniences around them: NATS from providers.ts (a container when an engine
// answers) or a three-node cluster, a MongoDB-compatible server for `store: 'mongo'`, a loopback DNS
// server the tests fill, test names for the listeners, and a watch on nats-server's permission refusals.
import { randomBytes } from 'node:crypto';
import { launchMailPlatform, writeNatsAuth, type MailPlatform, type PlatformOptions } from '@mail/launcher';
import { join } from 'node:path';
import { startDnsServer, type TestDnsServer } from './dns-server.js';
import { dropMongoDatabase, startMongo, startNats, type ProvidedServer, type ProviderUse } from './providers.js';
import { startNatsCluster, type NatsCluster } from './nats-cluster.js';

export { REPO_ROOT, restartPauseMs, SERVICE_NAMES, type ServiceName } from '@mail/launcher';

export interface MailSystemOptions extends Omit<PlatformOptions, 'nats' | 'natsAuth' | 'report' | 'logs'> {
  /**
   * The test provokes NATS permission violations on purpose. Otherwise stop() fails when nats-server
   * reported one: a service needed a subject its user may not use (libs/contracts nats-permissions.ts).
   */
  natsViolationsExpected?: boolean;
  /** mailbox-store backend: `mongo` starts a MongoDB-compatible server (see providers.ts) for it. */
  store?: 'embedded' | 'mongo';
  /** How NATS and the MongoDB-compatible server run (providers.ts): `auto` (the default) or `local` processes. */
  infrastructure?: ProviderUse;
  /** A three-node JetStream cluster instead of one nats-server; streams and buckets get three replicas. */
  natsCluster?: boolean;
  /**
   * The services resolve with the machine's DNS. Otherwise, unless env sets DNS_SERVERS, a DNS server is
   * started on loopback for them (system.dns), empty until the test adds records.
   */
  systemDns?: boolean;
}

export interface MailSystem extends MailPlatform {
  nats: ProvidedServer;
  /** The cluster's nodes, with `natsCluster`. */
  natsCluster?: NatsCluster;
  /** The MongoDB server and database mailbox-store uses, with `store: 'mongo'`. */
  mongo?: { server: ProvidedServer; uri: string; database: string };
  /** The loopback DNS server the services resolve with (see MailSystemOptions.systemDns). */
  dns?: TestDnsServer;
}

export async function startMailSystem(options: MailSystemOptions): Promise<MailSystem> {
  let natsCluster: NatsCluster | undefined;
  let nats: ProvidedServer;
  const natsAuth = await writeNatsAuth(options.dataDir, options.natsConfig);
  const natsViolations: string[] = [];
  const watch = (text: string) => {
    for (const line of text.split('\n')) if (/Violation/.test(line)) natsViolations.push(line.trim());
  };
  if (options.natsCluster) {
    natsCluster = await startNatsCluster(join(options.dataDir, 'nats'), { echo: options.echo, configFile: natsAuth.configFile, probeAs: natsAuth.env('queue-manager'), watch });
    nats = { url: natsCluster.url, provider: 'local', stop: natsCluster.stopAll };
  } else {
    const extraArgs = ['-c', natsAuth.configFile, ...(options.natsArgs ?? [])];
    nats = await startNats({ storeDir: join(options.dataDir, 'nats'), port: options.natsPort, echo: options.echo, extraArgs, use: options.infrastructure, watch });
  }
  let mongo: MailSystem['mongo'];
  if (options.store === 'mongo') {
    try {
      const server = await startMongo({ echo: options.echo, use: options.infrastructure });
      mongo = { server, uri: server.url, database: `mail_e2e_${randomBytes(6).toString('hex')}` };
    } catch (err) {
      await nats.stop();
      throw err;
    }
  }
  const dns = options.systemDns || options.env?.DNS_SERVERS ? undefined : await startDnsServer();
  const stopInfrastructure = async () => {
    await dns?.close();
    if (mongo?.server.provider === 'external') await dropMongoDatabase(mongo.uri, mongo.database).catch(() => undefined);
    await mongo?.server.stop();
  };
  let platform: MailPlatform;
  try {
    platform = await launchMailPlatform({
      ...options,
      nats,
      natsAuth,
      // Each service's log in <dataDir>/logs, kept with the folder when a test fails (temporary-directories.ts).
      logs: { dir: join(options.dataDir, 'logs'), maxBytes: 20 * 1024 * 1024, keep: 1 },
      env: {
        ...(natsCluster ? { NATS_STREAM_REPLICAS: String(natsCluster.size) } : {}),
        // The plain-text suites log in over POP3 without TLS; the TLS suites turn this off.
        POP3_ALLOW_PLAINTEXT_AUTH: 'true',
        SMTP_SERVER_NAME: 'mx.test.local',
        POP3_SERVER_NAME: 'pop.test.local',
        ...(dns ? { DNS_SERVERS: dns.address } : {}),
        ...(mongo ? { MAIL_STORE: 'mongo', MONGODB_URI: mongo.uri, MONGODB_DATABASE: mongo.database, MONGODB_SERVER_SELECTION_TIMEOUT_MS: '5000' } : {}),
        ...options.env,
      },
    });
  } catch (err) {
    await stopInfrastructure();
    throw err;
  }
  return {
    ...platform,
    nats,
    natsCluster,
    mongo,
    dns,
    stop: async () => {
      await platform.stop();
      await stopInfrastructure();
      if (natsViolations.length > 0 && !options.natsViolationsExpected) {
        throw new Error(`nats-server refused what a service asked (libs/contracts nats-permissions.ts):\n${[...new Set(natsViolations)].join('\n')}`);
      }
    },
  };
}
