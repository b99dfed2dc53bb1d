// mailctl status (postfix status) and mailctl config (postconf -n): what each service reports on its HTTP
// port's /status (health, version, its dependencies, the settings it runs with), plus the queue's depth
// and age from queue-manager's admin API.
import type { Command } from 'commander';
import { grpc, SERVICE_HTTP_PORTS, unary } from '@mail/platform';
import { action, program, type Clients } from './cli.js';
import { durationText } from './queue-commands.js';

/** What GET /status answers (libs/platform/src/observability.ts). */
interface ServiceStatus {
  service: string;
  version: string;
  pid: number;
  uptimeSeconds: number;
  ready: boolean;
  checks: Record<string, boolean>;
  settings: Array<{ variable: string; value: string; given?: string }>;
}

type ServiceName = keyof typeof SERVICE_HTTP_PORTS;

/** Each service's /status URL: 127.0.0.1 and its *_HTTP_PORT variable (default 9101-9105, as the local run). */
export function statusUrls(env: NodeJS.ProcessEnv = process.env): Array<{ service: ServiceName; url: string }> {
  return (Object.entries(SERVICE_HTTP_PORTS) as Array<[ServiceName, { variable: string; fallback: number }]>).map(([service, { variable, fallback }]) => ({
    service,
    url: `http://127.0.0.1:${env[variable] || fallback}/status`,
  }));
}

async function fetchStatus(url: string, timeoutMs: number): Promise<ServiceStatus | string> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return `answered ${response.status}`;
    return (await response.json()) as ServiceStatus;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return cause === 'ECONNREFUSED' ? 'not running' : `no answer (${cause ?? (err as Error).message})`;
  }
}

const allStatuses = (timeoutMs: number) => Promise.all(statusUrls().map(async ({ service, url }) => ({ service, url, status: await fetchStatus(url, timeoutMs) })));


/** The queue's line: depth and the oldest message's age, or why it is not known. */
async function queueLine(c: Clients): Promise<{ line: string; ok: boolean }> {
  try {
    const admin = c.queue();
    const { messages, unplanned } = await unary(admin.listQueue.bind(admin), {}, c.timeout);
    const oldest = messages.length ? Math.min(...messages.map((m) => m.receivedAtMs)) : 0;
    const age = oldest ? `, oldest ${durationText(Math.max(0, Math.round((Date.now() - oldest) / 1000)))}` : '';
    const arriving = unplanned ? ` (${unplanned} more being queued)` : '';
    return { line: `${messages.length} message(s)${age}${arriving}`, ok: true };
  } catch (err) {
    const e = err as { code?: number; details?: string; message?: string };
    const unreachable = e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED;
    return { line: `unknown: ${unreachable ? `cannot reach queue-manager at ${program.opts<{ queueManager: string }>().queueManager}` : e.details || e.message}`, ok: false };
  }
}

export function registerStatusCommands(mailctl: Command): void {
  mailctl
    .command('status')
    .description("each service's health, version and dependencies (NATS, storage), and the queue's depth and oldest age; exit status 1 when anything is not ready")
    .action(
      action(async (c) => {
        const statuses = await allStatuses(c.timeout);
        let healthy = true;
        console.log(['SERVICE'.padEnd(15), 'STATE'.padEnd(11), 'VERSION'.padEnd(8), 'PID'.padStart(7), 'UPTIME'.padStart(6), ' DEPENDENCIES'].join(' '));
        for (const { service, url, status } of statuses) {
          if (typeof status === 'string') {
            healthy = false;
            console.log([service.padEnd(15), 'DOWN'.padEnd(11), '-'.padEnd(8), '-'.padStart(7), '-'.padStart(6), ` ${status} at ${url}`].join(' '));
            continue;
          }
          healthy &&= status.ready;
          const checks = Object.entries(status.checks).map(([name, ok]) => `${name} ${ok ? 'ok' : 'FAILING'}`).join(', ');
          console.log([service.padEnd(15), (status.ready ? 'ready' : 'NOT READY').padEnd(11), status.version.padEnd(8), String(status.pid).padStart(7), durationText(status.uptimeSeconds).padStart(6), ` ${checks || '-'}`].join(' '));
        }
        const queue = await queueLine(c);
        healthy &&= queue.ok;
        console.log(`queue: ${queue.line}`);
        if (!healthy) process.exitCode = 1;
      }),
    );
  mailctl
    .command('config')
    .description('the settings each running service uses, secrets hidden (like postconf; --changed: like postconf -n)')
    .option('--changed', 'only the settings given in the environment, not the defaults')
    .option('--service <name>', 'only this service')
    .action(
      action(async (c, options: { changed?: boolean; service?: string }) => {
        const statuses = (await allStatuses(c.timeout)).filter(({ service }) => !options.service || service === options.service);
        if (statuses.length === 0) throw new Error(`no service ${options.service} (there are: ${Object.keys(SERVICE_HTTP_PORTS).join(', ')})`);
        let reached = 0;
        for (const { service, url, status } of statuses) {
          if (typeof status === 'string') {
            console.log(`# ${service}: ${status} at ${url}`);
            continue;
          }
          reached++;
          console.log(`# ${service} ${status.version}`);
          for (const setting of status.settings) {
            if (options.changed && setting.given === undefined) continue;
            const given = setting.given !== undefined && setting.given !== setting.value ? `   (given as ${setting.given})` : '';
            console.log(`${setting.variable} = ${setting.value}${given}`);
          }
        }
        if (reached === 0) throw new Error('no service answered: is the system running (and are its *_HTTP_PORT variables set as for the services)?');
      }),
    );
}
