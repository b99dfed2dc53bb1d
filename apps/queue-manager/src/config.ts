// queue-manager settings, from the environment.
import { hostname } from 'node:os';
import { z } from 'zod';
import { durationSetting, GRPC_TLS_SETTINGS, intSetting, LOG_SETTINGS, NATS_SETTINGS, NATS_URL_SETTING, parsedSetting, portSetting, httpListenerSettings, setting, settingGroup } from '@mail/platform';
import { parseSchedule } from './retry-schedule.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** queue-manager's settings. */
export const QUEUE_MANAGER_SETTINGS = settingGroup('queue-manager', {
  ...httpListenerSettings('queue-manager'),
  grpcHost: setting('QUEUE_GRPC_HOST', z.string().default('127.0.0.1'), 'address of the admin gRPC listener'),
  grpcPort: setting('QUEUE_GRPC_PORT', portSetting(50052), 'admin gRPC port (mailctl `--queue-manager`, `QUEUE_ADMIN_ADDRESS`)'),
  natsUrl: NATS_URL_SETTING,
  concurrency: setting('QUEUE_CONCURRENCY', intSetting(16, 1), 'accepted messages and delivery results handled at once'),
  ackWaitMs: setting('QUEUE_ACK_WAIT_MS', durationSetting(30_000, 1000), 'an accepted message or result not acknowledged within this time is handed out again'),
  retrySchedule: setting('QUEUE_RETRY_SCHEDULE', parsedSetting('1m,5m,15m,30m,1h', parseSchedule), 'back-off after each failed attempt (the last step repeats)'),
  localRetrySchedule: setting(
    'QUEUE_LOCAL_RETRY_SCHEDULE',
    parsedSetting('5s,15s,30s,1m', parseSchedule),
    'back-off of local deliveries (mailbox-store unavailable, disk full); a minute at most, so mail flows again soon after our own store is back',
  ),
  jobTimeout: setting('QUEUE_JOB_TIMEOUT', durationSetting(15 * MINUTE, 1), 'a remote delivery job with no result by then is taken as lost and tried again'),
  localJobTimeout: setting('QUEUE_LOCAL_JOB_TIMEOUT', durationSetting(MINUTE, 1), 'the same for a local delivery job, sent to mailbox-store as a request (a repeat is harmless: delivery is idempotent); it is also how soon the jobs of a mailbox-store that died holding them go out again'),
  spoolReconcileMs: setting(
    'QUEUE_SPOOL_RECONCILE_MS',
    durationSetting(2 * MINUTE, 1000),
    'how often the active queue-manager reads the spool\'s heads and plans any spooled message it has no entry for (one a takeover\'s read missed while nats-server recovered)',
  ),
  leaderLease: setting(
    'QUEUE_LEADER_LEASE',
    durationSetting(10_000, 1),
    'one queue-manager replica is active at a time (a lease in JetStream KV); a standby takes over this long after the active one vanished',
  ),
  instance: setting('QUEUE_INSTANCE', z.string().default(''), "this replica's name in the lease; a restarted process with the same name takes its lease back at once", 'host:port'),
  localInFlight: setting('QUEUE_LOCAL_IN_FLIGHT', intSetting(64, 1), 'local delivery jobs out at once; local delivery has its own lane and never waits behind remote traffic'),
  remoteInFlight: setting('QUEUE_REMOTE_IN_FLIGHT', intSetting(256, 1), 'remote delivery jobs out at once, all destinations together'),
  initialDestinationConcurrency: setting(
    'QUEUE_INITIAL_DESTINATION_CONCURRENCY',
    intSetting(5, 1),
    'the concurrency a remote domain starts with; it grows with successes up to its limit, shrinks with failures (Postfix: initial_destination_concurrency)',
  ),
  // The delivery policy keeps the names operators know; queue-manager, which admits jobs for the whole cluster, reads it.
  maxConnectionsPerDomain: setting('DELIVERY_MAX_CONNECTIONS_PER_DOMAIN', intSetting(10, 1), 'jobs (connections) at once per remote domain'),
  maxMessagesPerWindow: setting('DELIVERY_MAX_MESSAGES_PER_WINDOW', intSetting(0, 0), 'jobs started per `DELIVERY_RATE_WINDOW_MS` per remote domain; 0 = unlimited'),
  rateWindowMs: setting('DELIVERY_RATE_WINDOW_MS', durationSetting(60_000, 1), 'the window of that limit'),
  domainLimits: setting('DELIVERY_DOMAIN_LIMITS', z.string().default(''), 'per-domain overrides: `domain=connections/messages,…`'),
  maxLifetime: setting('QUEUE_MAX_LIFETIME', durationSetting(5 * 24 * HOUR, 1), 'a message still undelivered after this long is returned to its sender (on the clock, whether or not an attempt happens)'),
  delayWarning: setting('QUEUE_DELAY_WARNING', durationSetting(4 * HOUR, 0), 'tell the sender once that a message is delayed after this long; 0 = never'),
  reportingMta: setting('QUEUE_REPORTING_MTA', z.string().default(hostname()), 'name used as Reporting-MTA and in MAILER-DAEMON@ of notices', 'host name'),
});

/** Every group of settings queue-manager reads, for the manifest. */
export const QUEUE_MANAGER_SETTING_GROUPS = [QUEUE_MANAGER_SETTINGS, NATS_SETTINGS, GRPC_TLS_SETTINGS, LOG_SETTINGS];

export type QueueManagerConfig = ReturnType<typeof QUEUE_MANAGER_SETTINGS.load>;

export const loadQueueManagerConfig = (env: NodeJS.ProcessEnv = process.env): QueueManagerConfig => QUEUE_MANAGER_SETTINGS.load(env);
