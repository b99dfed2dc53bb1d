// A real Prometheus (Debian's `prometheus` package) scraping the services on this machine with the shipped
// alert rules (deploy/observability/rules), for scripts/observe-local.sh and, under the test kit, the live
// dashboard and alert tests: its configuration is the mailplatform-local job of
// deploy/observability/prometheus.yml with the ports given, and its HTTP API answers queries and lists alerts.
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, SERVICE_NAMES, type ServiceName } from './launch.js';
import { startProcess, type ManagedProcess } from './processes.js';

/** The shipped alert rules. */
export const SHIPPED_RULES = join(REPO_ROOT, 'deploy', 'observability', 'rules', 'mail-alerts.rules.yml');

/** The prometheus binary: PROMETHEUS_BIN, else the one on PATH; undefined when there is none. */
export function findPrometheus(): string | undefined {
  if (process.env.PROMETHEUS_BIN) return process.env.PROMETHEUS_BIN;
  try {
    return execFileSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface PrometheusOptions {
  /** Storage and configuration go here. */
  dir: string;
  port: number;
  /** Each service's HTTP (metrics) port on 127.0.0.1. */
  targets: Record<ServiceName, number>;
  /** The rules file to load (the shipped one by default). */
  rulesFile?: string;
  scrapeInterval?: string;
  evaluationInterval?: string;
  echo?: boolean;
}

/** The configuration: the shipped mailplatform-local job (the same labels) on the given ports. */
export function prometheusConfig(options: PrometheusOptions): string {
  const targets = SERVICE_NAMES.map((service) => `      - targets: ["127.0.0.1:${options.targets[service]}"]\n        labels: { service: ${service} }`).join('\n');
  return `# Made by libs/launcher/src/prometheus.ts from deploy/observability/prometheus.yml (job mailplatform-local).
global:
  scrape_interval: ${options.scrapeInterval ?? '15s'}
  evaluation_interval: ${options.evaluationInterval ?? '30s'}
rule_files:
  - ${JSON.stringify(options.rulesFile ?? SHIPPED_RULES)}
scrape_configs:
  - job_name: mailplatform-local
    static_configs:
${targets}
    relabel_configs:
      - target_label: job
        replacement: mailplatform
`;
}

export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  value: string;
}

export interface RunningPrometheus {
  url: string;
  process: ManagedProcess;
  /** An instant query's result vector (or scalar as one sample). */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  alerts(): Promise<PromAlert[]>;
  stop(): Promise<void>;
}

async function api<T>(url: string): Promise<T> {
  const response = await fetch(url);
  const body = (await response.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${body.error ?? response.status}`);
  return body.data;
}

export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const binary = findPrometheus();
  if (!binary) throw new Error('prometheus not found: install Debian\'s prometheus package (scripts/setup.sh --test-tools does) or set PROMETHEUS_BIN');
  await mkdir(join(options.dir, 'data'), { recursive: true });
  const configFile = join(options.dir, 'prometheus.yml');
  await writeFile(configFile, prometheusConfig(options));
  const url = `http://127.0.0.1:${options.port}`;
  const process_ = startProcess(
    'prometheus',
    binary,
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(options.dir, 'data')}`, `--web.listen-address=127.0.0.1:${options.port}`, '--log.level=warn'],
    process.env,
    { echo: options.echo },
  );
  const until = Date.now() + 30_000;
  for (;;) {
    if (process_.child.exitCode !== null) throw new Error(`prometheus exited with ${process_.child.exitCode}:\n${process_.output()}`);
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > until) {
      await process_.kill();
      throw new Error(`prometheus not ready after 30 s:\n${process_.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url,
    process: process_,
    query: async (expr) => {
      const data = await api<{ resultType: string; result: unknown }>(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      if (data.resultType === 'scalar') return [{ metric: {}, value: data.result as [number, string] }];
      return data.result as Array<{ metric: Record<string, string>; value: [number, string] }>;
    },
    alerts: async () => (await api<{ alerts: PromAlert[] }>(`${url}/api/v1/alerts`)).alerts,
    stop: () => process_.stop(),
  };
}
