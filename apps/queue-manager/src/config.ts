// queue-manager settings, from the environment.
import { hostname } from 'node:os';
import { z } from 'zod';
import { durationSetting, intSetting, loadConfig, parsedSetting, portSetting, SERVICE_HTTP_PORTS } from '@mail/platform';
import { parseSchedule } from './retry-schedule.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const schema = z.object({
  httpHost: z.string().default('127.0.0.1'),
  httpPort: portSetting(SERVICE_HTTP_PORTS['queue-manager'].fallback),
  grpcHost: z.string().default('127.0.0.1'),
  grpcPort: portSetting(50052),
  natsUrl: z.string().default('nats://127.0.0.1:4222'),
  /** Accepted messages and delivery results handled at once. */
  concurrency: intSetting(16, 1),
  ackWaitMs: durationSetting(30_000, 1000),
  /** Back-off after each failed attempt; the last step repeats. */
  retrySchedule: parsedSetting('1m,5m,15m,30m,1h', parseSchedule),
  /**
   * Back-off of local deliveries (mailbox-store unavailable, disk full); the last step repeats. Our own
   * store: a minute at most, so mail flows again soon after it is back.
   */
  localRetrySchedule: parsedSetting('5s,15s,30s,1m', parseSchedule),
  /** A remote delivery job with no result after this long is taken as lost and tried again. */
  jobTimeout: durationSetting(15 * MINUTE, 1),
  /** The same for a local delivery job (into our own store: milliseconds when all is well). */
  localJobTimeout: durationSetting(2 * MINUTE, 1),
  /** The active replica's lease: a standby takes the queue over this long after the active one vanished. */
  leaderLease: durationSetting(10_000, 1),
  /** This replica's name in the lease; a restarted process with the same name takes its lease back at once. Default: host name and gRPC port. */
  instance: z.string().default(''),
  /** Delivery jobs in flight at once, all destinations together, per lane. */
  localInFlight: intSetting(64, 1),
  remoteInFlight: intSetting(256, 1),
  /** The concurrency a remote destination starts with; it grows with successes up to its limit (Postfix: initial_destination_concurrency). */
  initialDestinationConcurrency: intSetting(5, 1),
  /** Connections (jobs) at once per remote domain. */
  maxConnectionsPerDomain: intSetting(10, 1),
  /** Jobs started per window per remote domain; 0 = unlimited. */
  maxMessagesPerWindow: intSetting(0, 0),
  rateWindowMs: durationSetting(60_000, 1),
  /** Per-domain overrides: "domain=connections/messages,...". */
  domainLimits: z.string().default(''),
  /** A message still undelivered after this long is returned to its sender. */
  maxLifetime: durationSetting(5 * 24 * HOUR, 1),
  /** Tell the sender once that a message is delayed after this long; 0 = never. */
  delayWarning: durationSetting(4 * HOUR, 0),
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
      localRetrySchedule: 'QUEUE_LOCAL_RETRY_SCHEDULE',
      jobTimeout: 'QUEUE_JOB_TIMEOUT',
      localJobTimeout: 'QUEUE_LOCAL_JOB_TIMEOUT',
      leaderLease: 'QUEUE_LEADER_LEASE',
      instance: 'QUEUE_INSTANCE',
      localInFlight: 'QUEUE_LOCAL_IN_FLIGHT',
      remoteInFlight: 'QUEUE_REMOTE_IN_FLIGHT',
      initialDestinationConcurrency: 'QUEUE_INITIAL_DESTINATION_CONCURRENCY',
      // The delivery policy keeps the names operators know; queue-manager, which admits jobs, reads it.
      maxConnectionsPerDomain: 'DELIVERY_MAX_CONNECTIONS_PER_DOMAIN',
      maxMessagesPerWindow: 'DELIVERY_MAX_MESSAGES_PER_WINDOW',
      rateWindowMs: 'DELIVERY_RATE_WINDOW_MS',
      domainLimits: 'DELIVERY_DOMAIN_LIMITS',
      delayWarning: 'QUEUE_DELAY_WARNING',
      reportingMta: 'QUEUE_REPORTING_MTA',
    },
    env,
  );
