// /metrics (Prometheus, prom-client), /healthz and /readyz over HTTP for every service.
import { createServer, type Server } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { registry as processRegistry } from './metrics.js';
import { listen } from './net.js';

export type ReadinessCheck = () => Promise<boolean> | boolean;

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
  registry?: Registry;
}): Promise<Observability> {
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
        let ready = false;
        try {
          ready = await options.ready();
        } catch {
          ready = false;
        }
        res.statusCode = ready ? 200 : 503;
        res.end(ready ? 'ready\n' : 'not ready\n');
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
