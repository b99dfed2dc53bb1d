// queue-manager settings, from the environment.
import { hostname } from 'node:os';
import { z } from 'zod';
import { intSetting, loadConfig, parsedSetting, portSetting } from '@mail/platform';
import { parseDuration, parseSchedule } from './retry-schedule.js';

const duration = (fallback: string) => parsedSetting(fallback, parseDuration);

const schema = z.object({
  httpHost: z.string().default('127.0.0.1'),
  httpPort: portSetting(9102),
  grpcHost: z.string().default('127.0.0.1'),
  grpcPort: portSetting(50052),
  natsUrl: z.string().default('nats://127.0.0.1:4222'),
  /** Accepted messages and delivery results handled at once. */
  concurrency: intSetting(16, 1),
  ackWaitMs: intSetting(30_000, 1000),
  /** Back-off after each failed attempt; the last step repeats. */
  retrySchedule: parsedSetting('1m,5m,15m,30m,1h', parseSchedule),
  /** A message still undelivered after this long is returned to its sender. */
  maxLifetime: duration('5d'),
  /** Tell the sender once that a message is delayed after this long; 0 = never. */
  delayWarning: duration('4h'),
  /** Name used as Reporting-MTA and in MAILER-DAEMON@ of notices. */
  reportingMta: z.string().default(hostname()),
});

export type QueueManagerConfig = z.infer<typeof schema>;

export const loadQueueManagerConfig = (env: NodeJS.ProcessEnv = process.env): QueueManagerConfig =>
  loadConfig(
    schema,
    {
      httpHost: 'QUEUE_HTTP_HOST',
      httpPort: 'QUEUE_HTTP_PORT',
      grpcHost: 'QUEUE_GRPC_HOST',
      grpcPort: 'QUEUE_GRPC_PORT',
      natsUrl: 'NATS_URL',
      concurrency: 'QUEUE_CONCURRENCY',
      ackWaitMs: 'QUEUE_ACK_WAIT_MS',
      retrySchedule: 'QUEUE_RETRY_SCHEDULE',
      maxLifetime: 'QUEUE_MAX_LIFETIME',
      delayWarning: 'QUEUE_DELAY_WARNING',
      reportingMta: 'QUEUE_REPORTING_MTA',
    },
    env,
  );
