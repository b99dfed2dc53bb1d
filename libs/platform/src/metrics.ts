// The process's Prometheus registry and the metrics every service shares. Service-specific metrics
// live in each service's metrics.ts and register here too; names follow deploy/observability/METRICS.md.
import { Counter, Registry } from 'prom-client';

export const registry = new Registry();

export const grpcClientErrors = new Counter({
  name: 'grpc_client_errors_total',
  help: 'Failed gRPC calls made by this service, by method',
  labelNames: ['method'],
  registers: [registry],
});

export const natsClientErrors = new Counter({
  name: 'nats_client_errors_total',
  help: 'NATS publish/consume errors and disconnects seen by this service',
  registers: [registry],
});

export const authFailures = new Counter({
  name: 'auth_failures_total',
  help: 'Failed authentications (SMTP AUTH, POP3 login)',
  registers: [],
});

/** Registers the auth-failure counter (only the services that authenticate export it). */
export function exportAuthFailures(): Counter {
  if (!registry.getSingleMetric('auth_failures_total')) registry.registerMetric(authFailures);
  return authFailures;
}
