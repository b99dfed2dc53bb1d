// queue-manager metrics (deploy/observability/METRICS.md). Depth and age are read from the queue at
// scrape time, so they are right after a restart and across replicas.
import { Counter, Gauge } from 'prom-client';
import { registry } from '@mail/platform';
import type { QueueStore } from './queue-store.js';

export const queueMetrics = {
  retries: new Counter({ name: 'delivery_retries_total', help: 'Deliveries scheduled again after a temporary failure', registers: [registry] }),
  bounces: new Counter({ name: 'bounces_total', help: 'Delivery status notifications generated', registers: [registry] }),
};

export function exportQueueGauges(queue: QueueStore): void {
  let snapshot: Promise<{ depth: number; oldest: number }> | undefined;
  // One scan of the queue serves both gauges of a scrape.
  const read = () => {
    snapshot ??= queue.list().then((entries) => {
      setTimeout(() => (snapshot = undefined), 1000);
      const oldest = entries.reduce((min, e) => Math.min(min, e.receivedAt), Number.POSITIVE_INFINITY);
      return { depth: entries.length, oldest: entries.length ? (Date.now() - oldest) / 1000 : 0 };
    });
    return snapshot;
  };
  new Gauge({
    name: 'queue_depth',
    help: 'Messages in the queue',
    registers: [registry],
    async collect() {
      this.set((await read()).depth);
    },
  });
  new Gauge({
    name: 'queue_oldest_message_age_seconds',
    help: 'Age of the oldest queued message',
    registers: [registry],
    async collect() {
      this.set((await read()).oldest);
    },
  });
}
