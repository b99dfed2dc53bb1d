// The local run (scripts/local.mjs) apart from the processes: its ports, each from its variable or a fixed
// default (the HTTP ones those deploy/observability/prometheus.yml scrapes), and what its banner says,
// including the exact mailctl invocation for the ports it uses.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { parseSize, SERVICE_HTTP_PORTS } from '@mail/platform';
import { REPO_ROOT, type MailPlatform, type PlatformOptions, type ServiceName } from './launch.js';
import { canBind } from './ports.js';

/** Every port of the local run: its variable and its default. */
export const LOCAL_PORTS = {
  smtpPort: { variable: 'SMTP_PORT', fallback: 2525 },
  submissionPort: { variable: 'SMTP_SUBMISSION_PORT', fallback: 2587 },
  smtpsPort: { variable: 'SMTPS_PORT', fallback: 2465 },
  pop3Port: { variable: 'POP3_PORT', fallback: 1110 },
  pop3sPort: { variable: 'POP3S_PORT', fallback: 1995 },
  grpcPort: { variable: 'MAILBOX_GRPC_PORT', fallback: 50051 },
  queueGrpcPort: { variable: 'QUEUE_GRPC_PORT', fallback: 50052 },
  natsPort: { variable: 'NATS_PORT', fallback: 4222 },
} as const;

/** The services' HTTP (metrics) ports: 9101-9105, as the mailplatform-local job of prometheus.yml expects. */
export const LOCAL_HTTP_PORTS: Record<ServiceName, { variable: string; fallback: number }> = SERVICE_HTTP_PORTS;

/** A port variable's value: a whole number 1-65535, or its default when unset. */
function portFrom(env: NodeJS.ProcessEnv, variable: string, fallback: number): number {
  const text = env[variable];
  if (text === undefined || text === '') return fallback;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw new Error(`${variable}=${JSON.stringify(text)}: expected a port number (1-65535)`);
  return port;
}

/** The ports of the local run from the environment: every one it listens on, named by its variable. */
export function localPorts(env: NodeJS.ProcessEnv): { listeners: Pick<PlatformOptions, keyof typeof LOCAL_PORTS>; httpPorts: Record<ServiceName, number>; byVariable: Map<string, number> } {
  const byVariable = new Map<string, number>();
  const read = ({ variable, fallback }: { variable: string; fallback: number }) => {
    const port = portFrom(env, variable, fallback);
    byVariable.set(variable, port);
    return port;
  };
  const listeners = Object.fromEntries(Object.entries(LOCAL_PORTS).map(([key, spec]) => [key, read(spec)])) as Pick<PlatformOptions, keyof typeof LOCAL_PORTS>;
  const httpPorts = Object.fromEntries(Object.entries(LOCAL_HTTP_PORTS).map(([name, spec]) => [name, read(spec)])) as Record<ServiceName, number>;
  return { listeners, httpPorts, byVariable };
}

/**
 * What the local run sets for the services beyond their wiring: its names, and POP3 logins without TLS.
 * Every name is a setting that a service declares (tools/settings checks it).
 */
export function localServiceSettings(env: NodeJS.ProcessEnv): Record<string, string> {
  return {
    SMTP_SERVER_NAME: env.SMTP_SERVER_NAME ?? 'localhost',
    POP3_SERVER_NAME: env.POP3_SERVER_NAME ?? 'localhost',
    QUEUE_REPORTING_MTA: env.SMTP_SERVER_NAME ?? 'localhost',
    // The local run listens on loopback only, so POP3 logins without TLS are allowed here for any
    // client (as Dovecot allows them from localhost); the services' own default, used in deploy/, is
    // to refuse them before STLS. POP3_ALLOW_PLAINTEXT_AUTH=false gives the production behaviour.
    POP3_ALLOW_PLAINTEXT_AUTH: env.POP3_ALLOW_PLAINTEXT_AUTH ?? 'true',
  };
}

/** The log files of the local run: <dataDir>/logs/<service>.log, rotated at LOG_FILE_MAX_BYTES (10MB), 3 kept. */
export function localLogSettings(env: NodeJS.ProcessEnv, dataDir: string): NonNullable<PlatformOptions['logs']> {
  const text = env.LOG_FILE_MAX_BYTES || '10MB';
  const maxBytes = parseSize(text);
  if (maxBytes === undefined || maxBytes < 1024) throw new Error(`LOG_FILE_MAX_BYTES=${JSON.stringify(text)}: expected a size of at least 1KB (bytes, or with KB, MB or GB)`);
  return { dir: join(dataDir, 'logs'), maxBytes, keep: 3 };
}

/** Who listens on the port, as `pid N (command line)`, from `ss` and /proc; undefined when not found out. */
export async function portHolder(port: number): Promise<string | undefined> {
  try {
    const { stdout } = await promisify(execFile)('ss', ['-Htlnp', `sport = :${port}`]);
    const pid = /pid=(\d+)/.exec(stdout)?.[1];
    if (!pid) return undefined;
    const command = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean).join(' ');
    return `pid ${pid}${command ? ` (${command.length > 120 ? `${command.slice(0, 117)}...` : command})` : ''}`;
  } catch {
    return undefined;
  }
}

/**
 * The ports of the local run that something else already listens on, one line each naming the variable,
 * the port and its holder: an instance left running (an orphaned nats-server) must not be used silently.
 */
export async function takenPorts(byVariable: Map<string, number>): Promise<string[]> {
  const lines: string[] = [];
  for (const [variable, port] of byVariable) {
    if (await canBind(port)) continue;
    const holder = await portHolder(port);
    lines.push(`${variable}=${port}: 127.0.0.1:${port} is already in use${holder ? ` by ${holder}` : ''}`);
  }
  return lines;
}

/** mailctl's own defaults (apps/mailctl/src/cli.ts): the local run's ports when none is moved. */
export const MAILCTL_DEFAULT_ADDRESSES = { mailboxStore: '127.0.0.1:50051', queueManager: '127.0.0.1:50052' };

/** How to run mailctl against these addresses: plain `npx mailctl` on the defaults, with options otherwise. */
export function mailctlCommand(grpcAddress: string, queueAdminAddress: string): string {
  const options = [
    grpcAddress !== MAILCTL_DEFAULT_ADDRESSES.mailboxStore ? ` --mailbox-store ${grpcAddress}` : '',
    queueAdminAddress !== MAILCTL_DEFAULT_ADDRESSES.queueManager ? ` --queue-manager ${queueAdminAddress}` : '',
  ];
  return `npx mailctl${options.join('')}`;
}

/** mailctl logs for this log directory: without --log-dir for the checkout's own .data/logs. */
export const mailctlLogsCommand = (logDir: string): string => `npx mailctl logs${logDir === join(REPO_ROOT, '.data', 'logs') ? '' : ` --log-dir ${logDir}`}`;

/** What the local run prints once everything is ready. */
/** What the local run prints once it is up. */
export function localBanner(system: MailPlatform, dataDir: string, logDir = join(dataDir, 'logs')): string {
  const mailctl = mailctlCommand(system.grpcAddress, system.queueAdminAddress);
  const moved = mailctl !== 'npx mailctl';
  const lines = [
    `mail platform running (data in ${dataDir})`,
    `  SMTP            127.0.0.1:${system.smtpPort}   (MX: mail for local domains; STARTTLS)`,
    `  submission      127.0.0.1:${system.submissionPort}   (STARTTLS, then AUTH PLAIN/LOGIN)`,
    `  SMTPS           127.0.0.1:${system.smtpsPort}   (implicit TLS, AUTH)`,
    `  POP3            127.0.0.1:${system.pop3Port}   (USER/PASS or AUTH PLAIN; STLS offered)`,
    `  POP3S           127.0.0.1:${system.pop3sPort}   (implicit TLS)`,
    `  TLS certificate ${system.tlsCertFile} (self-signed)`,
    `  mailbox-store   gRPC ${system.grpcAddress}`,
    `  queue-manager   admin gRPC ${system.queueAdminAddress}`,
    `  NATS            ${system.natsUrl}   (a user per service: ${Object.keys(system.natsAuth.passwords).join(', ')}; passwords in ${system.natsAuth.passwordDir}/<user>)`,
    `  metrics         ${Object.entries(system.httpPorts).map(([name, p]) => `${name}=http://127.0.0.1:${p}/metrics`).join('\n                  ')}`,
    `Add a domain and a user:  ${mailctl} domain add example.test && ${mailctl} user add alice@example.test`,
    `Look at the queue:        ${mailctl} queue list`,
    `Logs:                     ${logDir}/<service>.log; ${mailctlLogsCommand(logDir)} [--service S] [--follow] [--queue-id ID]`,
    ...(moved
      ? [`mailctl on these ports:  export MAILBOX_STORE_ADDRESS=${system.grpcAddress} QUEUE_ADMIN_ADDRESS=${system.queueAdminAddress}   (then plain npx mailctl)`]
      : []),
    'Stop with Ctrl-C.',
  ];
  return lines.join('\n');
}
