// delivery-agent metrics (deploy/observability/METRICS.md).
import { Counter, Histogram } from 'prom-client';
import { registry } from '@mail/platform';

export const deliveryMetrics = {
  deliveries: new Counter({
    name: 'deliveries_total',
    help: 'Delivery attempts by outcome (delivered, deferred, failed) and recipient domain',
    labelNames: ['outcome', 'domain'],
    registers: [registry],
  }),
  duration: new Histogram({
    name: 'delivery_duration_seconds',
    help: 'Time of one delivery attempt (one job)',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  }),
};

export const OUTCOME_LABEL = { delivered: 'delivered', temporary: 'deferred', permanent: 'failed' } as const;
