// The whole system as real processes: nats-server (and, with `store: 'mongo'`, a MongoDB-compatible
// server; both from providers.ts), mailbox-store, queue-manager, delivery-agent,
// smtp-ingress and pop3-access, each on its own free loopback port. Used by the end-to-end tests
// (which also kill and restart services) and by the local run.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { writeSelfSignedCertificate } from '@mail/platform';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from './ports.js';
import { startProcess, type ManagedProcess } from './processes.js';
import { dropMongoDatabase, startMongo, startNats, type ProvidedServer } from './providers.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const SERVICE_NAMES = ['mailbox-store', 'queue-manager', 'delivery-agent', 'smtp-ingress', 'pop3-access'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface MailSystemOptions {
  dataDir: string;
  smtpPort?: number;
  pop3Port?: number;
  submissionPort?: number;
  smtpsPort?: number;
  pop3sPort?: number;
  grpcPort?: number;
  /** queue-manager's admin gRPC port (mailctl queue ...). */
  queueGrpcPort?: number;
  natsPort?: number;
  /** Extra environment for every service (limits, timeouts…). */
  env?: Record<string, string>;
  /** Environment for one service (or mailctl) only, on top of `env`: its own client certificate, say. */
  serviceEnv?: Partial<Record<ServiceName | 'mailctl', Record<string, string>>>;
  /** Extra nats-server command-line options (credentials, TLS). */
  natsArgs?: string[];
  echo?: boolean;
  /** mailbox-store backend: `mongo` starts a MongoDB-compatible server (see providers.ts) for it. */
  store?: 'embedded' | 'mongo';
}

export interface MailSystem {
  smtpPort: number;
  pop3Port: number;
  /** Submission (STARTTLS + AUTH), SMTPS (implicit TLS) and POP3S listeners. */
  submissionPort: number;
  smtpsPort: number;
  pop3sPort: number;
  /** The certificate the listeners present (self-signed, made at start unless TLS_CERT_FILE was given). */
  tlsCertFile: string;
  grpcAddress: string;
  /** queue-manager's admin gRPC address. */
  queueAdminAddress: string;
  natsUrl: string;
  nats: ProvidedServer;
  /** The MongoDB server and database mailbox-store uses, with `store: 'mongo'`. */
  mongo?: { server: ProvidedServer; uri: string; database: string };
  /** The environment every service was started with. */
  env: NodeJS.ProcessEnv;
  services: Record<ServiceName, ManagedProcess>;
  httpPorts: Record<ServiceName, number>;
  start(name: ServiceName): Promise<void>;
  kill(name: ServiceName): Promise<void>;
  restart(name: ServiceName): Promise<void>;
  /**
   * One more process of a service next to the system's own (a second replica), with `env` on top of the
   * system's environment; it is ready once its HTTP port (`httpPort`) answers /readyz. Stopped by stop().
   */
  startReplica(name: ServiceName, env: Record<string, string>, httpPort: number): Promise<ManagedProcess>;
  /** Runs the mailctl CLI against this system. */
  mailctl(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

async function waitReady(httpPort: number, process_: ManagedProcess, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void process_.exited.then((code) => (exitCode = code));
  for (;;) {
    if (exitCode !== undefined) throw new Error(`${process_.name} exited with ${exitCode}:\n${process_.output()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${process_.name} not ready after ${timeoutMs} ms:\n${process_.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startMailSystem(options: MailSystemOptions): Promise<MailSystem> {
  await mkdir(options.dataDir, { recursive: true });
  const nats = await startNats({ storeDir: join(options.dataDir, 'nats'), port: options.natsPort, echo: options.echo, extraArgs: options.natsArgs });
  let mongo: MailSystem['mongo'];
  if (options.store === 'mongo') {
    try {
      const server = await startMongo({ echo: options.echo });
      mongo = { server, uri: server.url, database: `mail_e2e_${randomBytes(6).toString('hex')}` };
    } catch (err) {
      await nats.stop();
      throw err;
    }
  }
  const stopInfrastructure = async () => {
    if (mongo?.server.provider === 'external') await dropMongoDatabase(mongo.uri, mongo.database).catch(() => undefined);
    await mongo?.server.stop();
    await nats.stop();
  };
  const smtpPort = options.smtpPort ?? (await freePort());
  const pop3Port = options.pop3Port ?? (await freePort());
  const submissionPort = options.submissionPort ?? (await freePort());
  const smtpsPort = options.smtpsPort ?? (await freePort());
  const pop3sPort = options.pop3sPort ?? (await freePort());
  const tlsCertFile = options.env?.TLS_CERT_FILE ?? join(options.dataDir, 'tls', 'cert.pem');
  const tlsKeyFile = options.env?.TLS_KEY_FILE ?? join(options.dataDir, 'tls', 'key.pem');
  // Made once here, so that the two TLS services do not both write it.
  if (!options.env?.TLS_CERT_FILE && !existsSync(tlsCertFile)) await writeSelfSignedCertificate(tlsCertFile, tlsKeyFile, ['localhost', '127.0.0.1']);
  const grpcPort = options.grpcPort ?? (await freePort());
  const grpcAddress = `127.0.0.1:${grpcPort}`;
  const queueGrpcPort = options.queueGrpcPort ?? (await freePort());
  const queueAdminAddress = `127.0.0.1:${queueGrpcPort}`;
  const httpPorts = {} as Record<ServiceName, number>;
  for (const name of SERVICE_NAMES) httpPorts[name] = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NATS_URL: nats.url,
    MAILBOX_STORE_ADDRESS: grpcAddress,
    MAILBOX_GRPC_PORT: String(grpcPort),
    QUEUE_GRPC_PORT: String(queueGrpcPort),
    QUEUE_ADMIN_ADDRESS: queueAdminAddress,
    MAILBOX_DATA_DIR: join(options.dataDir, 'mailbox-store'),
    MAILBOX_HTTP_PORT: String(httpPorts['mailbox-store']),
    QUEUE_HTTP_PORT: String(httpPorts['queue-manager']),
    DELIVERY_HTTP_PORT: String(httpPorts['delivery-agent']),
    SMTP_HTTP_PORT: String(httpPorts['smtp-ingress']),
    POP3_HTTP_PORT: String(httpPorts['pop3-access']),
    SMTP_PORT: String(smtpPort),
    POP3_PORT: String(pop3Port),
    SMTP_SUBMISSION_PORT: String(submissionPort),
    SMTPS_PORT: String(smtpsPort),
    POP3S_PORT: String(pop3sPort),
    TLS_CERT_FILE: tlsCertFile,
    TLS_KEY_FILE: tlsKeyFile,
    // The plain-text suites log in over POP3 without TLS; the TLS suites turn this off.
    POP3_ALLOW_PLAINTEXT_AUTH: 'true',
    SMTP_SERVER_NAME: 'mx.test.local',
    POP3_SERVER_NAME: 'pop.test.local',
    ...(mongo ? { MAIL_STORE: 'mongo', MONGODB_URI: mongo.uri, MONGODB_DATABASE: mongo.database, MONGODB_SERVER_SELECTION_TIMEOUT_MS: '5000' } : {}),
    ...options.env,
  };
  const services = {} as Record<ServiceName, ManagedProcess>;
  const everStarted: ManagedProcess[] = [];
  const start = async (name: ServiceName) => {
    const current = services[name];
    if (current && current.child.exitCode === null && current.child.signalCode === null) {
      throw new Error(`${name} is already running`);
    }
    const main = join(REPO_ROOT, 'apps', name, 'dist', 'main.js');
    services[name] = startProcess(name, process.execPath, [main], { ...env, ...options.serviceEnv?.[name] }, { echo: options.echo });
    everStarted.push(services[name]);
    await waitReady(httpPorts[name], services[name]);
  };
  const system: MailSystem = {
    smtpPort,
    pop3Port,
    submissionPort,
    smtpsPort,
    pop3sPort,
    tlsCertFile,
    grpcAddress,
    queueAdminAddress,
    natsUrl: nats.url,
    nats,
    mongo,
    env,
    services,
    httpPorts,
    start,
    kill: async (name) => services[name].kill(),
    restart: async (name) => {
      await services[name].stop();
      await start(name);
    },
    startReplica: async (name, extraEnv, httpPort) => {
      const main = join(REPO_ROOT, 'apps', name, 'dist', 'main.js');
      const replica = startProcess(`${name}-replica`, process.execPath, [main], { ...env, ...options.serviceEnv?.[name], ...extraEnv }, { echo: options.echo });
      everStarted.push(replica);
      await waitReady(httpPort, replica);
      return replica;
    },
    mailctl: (args, stdin) =>
      new Promise((resolve) => {
        const child = execFile(
          process.execPath,
          [join(REPO_ROOT, 'apps', 'mailctl', 'dist', 'main.js'), '--mailbox-store', grpcAddress, '--queue-manager', queueAdminAddress, ...args],
          { env: { ...env, ...options.serviceEnv?.mailctl }, maxBuffer: 64 * 1024 * 1024 },
          (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
        child.stdin!.end(stdin ?? '');
      }),
    stop: async () => {
      for (const name of [...SERVICE_NAMES].reverse()) await services[name]?.stop();
      // Anything left over from a failed restart must not outlive the system.
      await Promise.all(everStarted.map((p) => p.kill()));
      await stopInfrastructure();
    },
  };
  try {
    await start('mailbox-store');
    await Promise.all([start('queue-manager'), start('delivery-agent')]);
    await Promise.all([start('smtp-ingress'), start('pop3-access')]);
    await waitForPort(smtpPort);
    await waitForPort(pop3Port);
  } catch (err) {
    await system.stop();
    throw err;
  }
  return system;
}
