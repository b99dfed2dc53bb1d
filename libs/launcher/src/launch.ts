// Starts the platform as processes of this one: nats-server (unless a NATS is given), then mailbox-store,
// queue-manager, delivery-agent, smtp-ingress and pop3-access, each with its settings, ports and data
// directory; supervises them on request (the local run) and stops them all. The local run
// (scripts/local.mjs) stands on it; so does the test kit (libs/testing), which adds its own infrastructure
// (containers, a NATS cluster, MongoDB, a DNS server) by giving a NATS and extra environment. It never
// uses containers.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NATS_SERVICES, type NatsService } from '@mail/contracts';
import { writeSelfSignedCertificate } from '@mail/wire';
import { RotatingLogFile } from './log-file.js';
import { writeNatsAuth, type NatsAuth } from './nats-auth.js';
import { startNatsServer } from './nats-server.js';
import { freePort, waitForPort } from './ports.js';
import { startProcess, type ManagedProcess } from './processes.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const SERVICE_NAMES = ['mailbox-store', 'queue-manager', 'delivery-agent', 'smtp-ingress', 'pop3-access'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** A NATS server the platform connects to, and how to stop it. */
export interface NatsEndpoint {
  url: string;
  stop(): Promise<void>;
}

export interface PlatformOptions {
  dataDir: string;
  smtpPort?: number;
  pop3Port?: number;
  submissionPort?: number;
  smtpsPort?: number;
  pop3sPort?: number;
  grpcPort?: number;
  /** queue-manager's admin gRPC port (mailctl queue ...). */
  queueGrpcPort?: number;
  /** nats-server's port, when the launcher starts it (a free one otherwise). */
  natsPort?: number;
  /** The services' HTTP ports (metrics, health); a free one for each not given. */
  httpPorts?: Partial<Record<ServiceName, number>>;
  /** Extra environment for every service (limits, timeouts…), on top of the wiring. */
  env?: Record<string, string>;
  /** Environment for one service (or mailctl) only, on top of `env`: its own client certificate, say. */
  serviceEnv?: Partial<Record<ServiceName | 'mailctl', Record<string, string>>>;
  /**
   * A NATS that is already running (the test kit's container or cluster), stopped with the platform, and
   * the users it was started with (`natsAuth`); without it the launcher runs nats-server as a process on
   * `natsPort`, storing in <dataDir>/nats, with new users (nats-auth.ts).
   */
  nats?: NatsEndpoint;
  natsAuth?: NatsAuth;
  /** Extra nats-server command-line options (TLS, say), when the launcher starts it. */
  natsArgs?: string[];
  /**
   * Extra nats-server configuration (a `jetstream { … }` block, say), in the file that also holds the
   * users: NATS always runs with a user per service and no anonymous access.
   */
  natsConfig?: string;
  echo?: boolean;
  /** Told what runs where (`nats: local nats-server (…)`). */
  report?(line: string): void;
  /**
   * The local run's supervision: a service that dies without being asked to (a signal, a crash) is
   * started again after a pause that doubles with each quick death (see restartPauseMs), and each step is
   * told to `report`. Off for the tests, which kill services on purpose.
   */
  supervise?: { report(line: string): void };
  /** The local run's log files: each service's output (and nats-server's) also goes to <dir>/<name>.log, rotated by size. */
  logs?: { dir: string; maxBytes: number; keep: number };
}

/** The exit status of a service that refused its configuration: restarting it cannot help. */
const EXIT_CONFIG = 78;
/** A service that ran this long before dying starts its pauses again from the shortest. */
const STABLE_RUN_MS = 60_000;

/** The pause before the `restarts`-th quick restart in a row (0-based): 1 s, doubling, at most 30 s. */
export const restartPauseMs = (restarts: number): number => Math.min(1000 * 2 ** restarts, 30_000);

export interface MailPlatform {
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
  /** The services' NATS users and passwords, and the configuration file nats-server runs with. */
  natsAuth: NatsAuth;
  /** The environment every service was started with (each also gets its own NATS user). */
  env: NodeJS.ProcessEnv;
  services: Record<ServiceName, ManagedProcess>;
  httpPorts: Record<ServiceName, number>;
  start(name: ServiceName): Promise<void>;
  /** Whether the service's current process is alive (a supervised one may have been started again). */
  isRunning(name: ServiceName): boolean;
  kill(name: ServiceName): Promise<void>;
  restart(name: ServiceName): Promise<void>;
  /**
   * One more process of a service next to the platform's own (a second replica), with `env` on top of the
   * platform's environment; it is ready once its HTTP port (`httpPort`) answers /readyz. Stopped by stop().
   */
  startReplica(name: ServiceName, env: Record<string, string>, httpPort: number): Promise<ManagedProcess>;
  /** Runs the mailctl CLI against this platform. */
  mailctl(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Stops the services, then NATS. */
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

/** Where each service listens and finds the others: the listeners as the platform shows them, and the rest. */
export interface PlatformWiring extends Pick<MailPlatform, 'natsUrl' | 'smtpPort' | 'pop3Port' | 'submissionPort' | 'smtpsPort' | 'pop3sPort' | 'tlsCertFile'> {
  dataDir: string;
  grpcPort: number;
  queueGrpcPort: number;
  httpPorts: Record<ServiceName, number>;
  tlsKeyFile: string;
}

/**
 * The environment that wires the services together, given to each of them. Every name is a setting that
 * a service declares: tools/settings checks them against the settings manifest.
 */
export function wiringEnvironment(wiring: PlatformWiring): Record<string, string> {
  return {
    NATS_URL: wiring.natsUrl,
    MAILBOX_STORE_ADDRESS: `127.0.0.1:${wiring.grpcPort}`,
    MAILBOX_GRPC_PORT: String(wiring.grpcPort),
    QUEUE_GRPC_PORT: String(wiring.queueGrpcPort),
    MAILBOX_DATA_DIR: join(wiring.dataDir, 'mailbox-store'),
    MAILBOX_HTTP_PORT: String(wiring.httpPorts['mailbox-store']),
    QUEUE_HTTP_PORT: String(wiring.httpPorts['queue-manager']),
    DELIVERY_HTTP_PORT: String(wiring.httpPorts['delivery-agent']),
    SMTP_HTTP_PORT: String(wiring.httpPorts['smtp-ingress']),
    POP3_HTTP_PORT: String(wiring.httpPorts['pop3-access']),
    SMTP_PORT: String(wiring.smtpPort),
    POP3_PORT: String(wiring.pop3Port),
    SMTP_SUBMISSION_PORT: String(wiring.submissionPort),
    SMTPS_PORT: String(wiring.smtpsPort),
    POP3S_PORT: String(wiring.pop3sPort),
    TLS_CERT_FILE: wiring.tlsCertFile,
    TLS_KEY_FILE: wiring.tlsKeyFile,
  };
}

const serviceMain = (name: ServiceName | 'mailctl'): string => join(REPO_ROOT, 'apps', name, 'dist', 'main.js');

/**
 * A 128 MB start for V8's old generation. V8 starts it with a small limit and raises it only as the live
 * heap grows; the services that pass mail bodies through keep a small live heap (about 20 MB), and the
 * bytes of those buffers count against that limit, so by default a busy one ran a full mark-compact many
 * times a second. Four rounds of 2,000 POP3 RETRs of 20 KB at 4 sessions: 42 full collections in
 * mailbox-store and 37 in pop3-access by default, 1 and 7 with this, for some 40 MB more resident
 * memory each (BENCHMARKS.md).
 */
const OLD_SPACE_START = '--initial-old-space-size=128';

/**
 * smtp-ingress's smaller start, a floor for its old generation. With V8's default, a burst after a quiet
 * spell was slow: when the process goes quiet V8's memory reducer collects and shrinks the heap to just
 * above the live objects (26 MB), and the next burst then ran a full mark-compact every ~100 ms, its
 * limit kept ~10% over the live heap ("GC in old space requested"). 1,000 messages of 200 KB over 16
 * connections after 20 s idle: 224 msg/s at 3.3 ms smtp-ingress CPU each by default, 422 msg/s at 1.3 ms
 * with this; without the pause the default did 336–494 (BENCHMARKS.md, SMTP intake). 64 MB, not the
 * others' 128, because smtp-ingress holds the idle connections: with 128 the garbage left lying took
 * 10,000 idle connections from 7.0 to 8.3 kB each; with 64 they read 6.5 and 6.7 kB (default 7.4, 7.1).
 */
const INGRESS_OLD_SPACE_START = '--initial-old-space-size=64';

/** Node's flags for each service process, here and in each image's CMD (deploy-check holds the images to this table). */
export const SERVICE_NODE_FLAGS: Readonly<Record<ServiceName, readonly string[]>> = {
  'smtp-ingress': [INGRESS_OLD_SPACE_START],
  'queue-manager': [OLD_SPACE_START],
  'delivery-agent': [OLD_SPACE_START],
  'mailbox-store': [OLD_SPACE_START],
  'pop3-access': [OLD_SPACE_START],
};

/** The command line of a service after the node binary. */
const serviceArgs = (name: ServiceName): string[] => [...SERVICE_NODE_FLAGS[name], serviceMain(name)];

export async function launchMailPlatform(options: PlatformOptions): Promise<MailPlatform> {
  await mkdir(options.dataDir, { recursive: true });
  const logFiles = new Map<string, RotatingLogFile>();
  /** The log file of a process name, one for all its restarts (none without options.logs). */
  const logFileOf = (name: string) => {
    if (!options.logs) return undefined;
    if (!logFiles.has(name)) logFiles.set(name, new RotatingLogFile(join(options.logs.dir, `${name}.log`), options.logs.maxBytes, options.logs.keep));
    return logFiles.get(name);
  };
  let nats = options.nats;
  const natsAuth = options.natsAuth ?? (await writeNatsAuth(options.dataDir, options.natsConfig));
  if (!nats) {
    const extraArgs = ['-c', natsAuth.configFile, ...(options.natsArgs ?? [])];
    const server = await startNatsServer(join(options.dataDir, 'nats'), { port: options.natsPort, echo: options.echo, extraArgs, logFile: logFileOf('nats-server') });
    options.report?.(`nats: local nats-server (${server.url})`);
    nats = server;
  }
  /** A service's own environment: its NATS user (if it has one), then what the caller gave it. */
  const serviceEnv = (name: ServiceName | 'mailctl'): Record<string, string> => ({
    ...((NATS_SERVICES as readonly string[]).includes(name) ? natsAuth.env(name as NatsService) : {}),
    ...options.serviceEnv?.[name],
  });
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
  for (const name of SERVICE_NAMES) httpPorts[name] = options.httpPorts?.[name] ?? (await freePort());
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...wiringEnvironment({ natsUrl: nats.url, dataDir: options.dataDir, grpcPort, queueGrpcPort, httpPorts, smtpPort, pop3Port, submissionPort, smtpsPort, pop3sPort, tlsCertFile, tlsKeyFile }),
    ...options.env,
  };
  const services = {} as Record<ServiceName, ManagedProcess>;
  const everStarted: ManagedProcess[] = [];
  let stopping = false;
  const quickRestarts = {} as Record<ServiceName, number>;
  const isRunning = (name: ServiceName) => {
    const current = services[name];
    return current !== undefined && current.child.exitCode === null && current.child.signalCode === null;
  };
  const start = async (name: ServiceName) => {
    if (isRunning(name)) throw new Error(`${name} is already running`);
    const started = startProcess(name, process.execPath, serviceArgs(name), { ...env, ...serviceEnv(name) }, { echo: options.echo, logFile: logFileOf(name) });
    services[name] = started;
    everStarted.push(started);
    if (options.supervise) superviseProcess(name, started, Date.now(), options.supervise.report);
    await waitReady(httpPorts[name], started);
  };
  /** Starts the service again when this process of it dies without being asked to. */
  const superviseProcess = (name: ServiceName, process_: ManagedProcess, startedAt: number, report: (line: string) => void) => {
    void process_.exited.then((code) => {
      if (stopping || process_.stopRequested || services[name] !== process_) return;
      const cause = process_.child.signalCode ? `killed by ${process_.child.signalCode}` : `exited with status ${code}`;
      if (code === EXIT_CONFIG) return report(`${name} ${cause} (invalid configuration): not restarted`);
      if (Date.now() - startedAt >= STABLE_RUN_MS) quickRestarts[name] = 0;
      const pauseMs = restartPauseMs(quickRestarts[name] ?? 0);
      quickRestarts[name] = (quickRestarts[name] ?? 0) + 1;
      report(`${name} ${cause}; restarting in ${pauseMs / 1000} s`);
      setTimeout(() => {
        if (stopping || services[name] !== process_) return;
        start(name).then(
          () => report(`${name} restarted (pid ${services[name].child.pid})`),
          (err: unknown) => report(`${name} did not come back: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`),
        );
      }, pauseMs).unref();
    });
  };
  const natsServer = nats;
  const platform: MailPlatform = {
    smtpPort,
    pop3Port,
    submissionPort,
    smtpsPort,
    pop3sPort,
    tlsCertFile,
    grpcAddress,
    queueAdminAddress,
    natsUrl: nats.url,
    natsAuth,
    env,
    services,
    httpPorts,
    start,
    isRunning,
    kill: async (name) => services[name].kill(),
    restart: async (name) => {
      await services[name].stop();
      await start(name);
    },
    startReplica: async (name, extraEnv, httpPort) => {
      const replica = startProcess(`${name}-replica`, process.execPath, serviceArgs(name), { ...env, ...serviceEnv(name), ...extraEnv }, { echo: options.echo });
      everStarted.push(replica);
      await waitReady(httpPort, replica);
      return replica;
    },
    mailctl: (args, stdin) =>
      new Promise((resolve) => {
        const child = execFile(
          process.execPath,
          [serviceMain('mailctl'), '--mailbox-store', grpcAddress, '--queue-manager', queueAdminAddress, ...args],
          { env: { ...env, ...options.serviceEnv?.mailctl }, maxBuffer: 64 * 1024 * 1024 },
          (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
        child.stdin!.end(stdin ?? '');
      }),
    stop: async () => {
      stopping = true;
      for (const name of [...SERVICE_NAMES].reverse()) await services[name]?.stop();
      // Anything left over from a failed restart must not outlive the platform.
      await Promise.all(everStarted.map((p) => p.kill()));
      await natsServer.stop();
      for (const file of logFiles.values()) file.close();
      logFiles.clear();
    },
  };
  try {
    await start('mailbox-store');
    await Promise.all([start('queue-manager'), start('delivery-agent')]);
    await Promise.all([start('smtp-ingress'), start('pop3-access')]);
    await waitForPort(smtpPort);
    await waitForPort(pop3Port);
  } catch (err) {
    await platform.stop().catch(() => undefined); // the start-up error says more (a refusal is in its output)
    throw err;
  }
  return platform;
}
