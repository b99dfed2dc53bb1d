// /metrics (Prometheus, prom-client), /healthz, /readyz and /status (version, readiness by dependency,
// effective settings: what mailctl status and mailctl config show) over HTTP for every service.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { z } from 'zod';
import { effectiveSettings, portSetting, setting } from './config.js';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { registry as processRegistry } from './metrics.js';
import { listen } from './net.js';

export type ReadinessCheck = () => Promise<boolean> | boolean;

/**
 * Each service's HTTP port variable and its default (its config.ts reads it; the local run, mailctl status
 * and deploy/observability/prometheus.yml use the same ports).
 */
export const SERVICE_HTTP_PORTS = {
  'smtp-ingress': { variable: 'SMTP_HTTP_PORT', fallback: 9101 },
  'queue-manager': { variable: 'QUEUE_HTTP_PORT', fallback: 9102 },
  'delivery-agent': { variable: 'DELIVERY_HTTP_PORT', fallback: 9103 },
  'mailbox-store': { variable: 'MAILBOX_HTTP_PORT', fallback: 9104 },
  'pop3-access': { variable: 'POP3_HTTP_PORT', fallback: 9105 },
} as const;

/** A service's HTTP listener settings (`<PREFIX>_HTTP_HOST`, and its port from SERVICE_HTTP_PORTS). */
export function httpListenerSettings(service: keyof typeof SERVICE_HTTP_PORTS) {
  const { variable, fallback } = SERVICE_HTTP_PORTS[service];
  return {
    httpHost: setting(variable.replace(/_PORT$/, '_HOST'), z.string().default('127.0.0.1'), 'address of the HTTP port (metrics, health, status)'),
    httpPort: setting(variable, portSetting(fallback), 'HTTP port: `/metrics`, `/healthz`, `/readyz`, `/status`'),
  };
}

/** The version in the package.json next to a service's dist/ (`fromUrl`: its import.meta.url); "unknown" without one. */
export function packageVersion(fromUrl: string): string {
  try {
    return String((JSON.parse(readFileSync(new URL('../package.json', fromUrl), 'utf8')) as { version?: unknown }).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
}

async function passes(check: ReadinessCheck): Promise<boolean> {
  try {
    return await check();
  } catch {
    return false;
  }
}

export interface Observability {
  registry: Registry;
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startObservability(options: {
  service: string;
  host: string;
  port: number;
  ready: ReadinessCheck;
  /** The dependencies behind readiness, each checked on its own for /status ("nats", "storage"…). */
  checks?: Record<string, ReadinessCheck>;
  /** The service's version, for /status. */
  version?: string;
  registry?: Registry;
  /** Further read-only JSON pages by path (e.g. delivery-agent's /tlsrpt for mailctl), given the query string. */
  pages?: Record<string, (query: URLSearchParams) => Promise<unknown>>;
}): Promise<Observability> {
  const startedAt = Date.now();
  const registry = options.registry ?? processRegistry;
  registry.setDefaultLabels({ service: options.service });
  collectDefaultMetrics({ register: registry });
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/metrics') {
        res.setHeader('content-type', registry.contentType);
        res.end(await registry.metrics());
      } else if (req.url === '/healthz') {
        res.end('ok\n');
      } else if (req.url === '/readyz') {
        const ready = await passes(options.ready);
        res.statusCode = ready ? 200 : 503;
        res.end(ready ? 'ready\n' : 'not ready\n');
      } else if (req.url === '/status') {
        const checks = Object.fromEntries(await Promise.all(Object.entries(options.checks ?? {}).map(async ([name, check]) => [name, await passes(check)] as const)));
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            service: options.service,
            version: options.version ?? 'unknown',
            pid: process.pid,
            uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
            ready: await passes(options.ready),
            checks,
            settings: effectiveSettings(),
          }),
        );
      } else if (options.pages?.[new URL(req.url ?? '/', 'http://x').pathname]) {
        const url = new URL(req.url ?? '/', 'http://x');
        const body = await options.pages[url.pathname]!(url.searchParams);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(body));
      } else {
        res.statusCode = 404;
        res.end('not found\n');
      }
    })().catch(() => {
      res.statusCode = 500;
      res.end();
    });
  });
  const port = await listen(server, options.port, options.host);
  return {
    registry,
    server,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
