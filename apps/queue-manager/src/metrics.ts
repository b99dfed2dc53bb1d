// queue-manager metrics (deploy/observability/METRICS.md). Depth and age come from the queue's
// mirror in memory (every replica keeps one), so a scrape costs nothing however long the queue is.
import { Counter, Gauge } from 'prom-client';
import { ACCEPTED_CONSUMER, SPOOL_STREAM } from '@mail/contracts';
import { registry, type NatsContext } from '@mail/platform';

export const queueMetrics = {
  retries: new Counter({ name: 'delivery_retries_total', help: 'Deliveries scheduled again after a temporary failure', registers: [registry] }),
  bounces: new Counter({ name: 'bounces_total', help: 'Delivery status notifications generated: failure reports and delay warnings (not the success notices of NOTIFY=SUCCESS)', registers: [registry] }),
  lostJobs: new Counter({ name: 'delivery_jobs_lost_total', help: 'Delivery jobs without a result within the job timeout', registers: [registry] }),
};

/** Accepted messages not yet turned into queue entries (spool heads queue-manager has not yet acknowledged). */
export async function unplannedCount(nats: NatsContext): Promise<number> {
  const info = await nats.jsm.consumers.info(SPOOL_STREAM, ACCEPTED_CONSUMER).catch(() => undefined);
  return info ? info.num_pending + info.num_ack_pending : 0;
}

/** What the gauges read from the queue (the queue core's mirror). */
export interface QueueFigures {
  readonly size: number;
  oldestReceivedAt(): number | undefined;
  jobsInFlight(lane: 'local' | 'remote'): number;
}

export function exportQueueGauges(core: QueueFigures, nats: NatsContext): void {
  new Gauge({
    name: 'queue_depth',
    help: 'Messages in the queue (accepted but not yet planned included)',
    registers: [registry],
    async collect() {
      this.set(core.size + (await unplannedCount(nats)));
    },
  });
  new Gauge({
    name: 'queue_oldest_message_age_seconds',
    help: 'Age of the oldest queued message',
    registers: [registry],
    collect() {
      const oldest = core.oldestReceivedAt();
      this.set(oldest === undefined ? 0 : (Date.now() - oldest) / 1000);
    },
  });
  new Gauge({
    name: 'delivery_jobs_in_flight',
    help: 'Delivery jobs handed to delivery-agent and not yet answered, by lane (on the active replica)',
    labelNames: ['lane'],
    registers: [registry],
    collect() {
      for (const lane of ['local', 'remote'] as const) this.set({ lane }, core.jobsInFlight(lane));
    },
  });
}
