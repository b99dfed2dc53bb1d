// mailbox-store settings, from the environment. Defaults suit a single machine.
import { z } from 'zod';
import { durationSetting, gatherSettings, GRPC_TLS_SETTINGS, intSetting, LOG_SETTINGS, NATS_SETTINGS, NATS_URL_SETTING, portSetting, httpListenerSettings, setting, settingGroup, sizeSetting } from '@mail/platform';

/** Failed-login throttling (AUTH_* variables): mailbox-store keeps the failure records for every edge. */
export const AUTH_THROTTLE_SETTINGS = settingGroup('Failed-login throttling (mailbox-store, for every replica of smtp-ingress and pop3-access; `mailctl auth locks`/`unlock`)', {
  maxFailures: setting('AUTH_MAX_FAILURES', intSetting(5, 1), 'failed logins of one account from one client address within `AUTH_FAILURE_WINDOW_MS` that lock that account from that address (the reply says when to retry)'),
  windowMs: setting('AUTH_FAILURE_WINDOW_MS', durationSetting(15 * 60_000, 1000), 'the window in which failures are counted'),
  lockMs: setting('AUTH_LOCK_MS', durationSetting(15 * 60_000, 0), 'how long such a lock holds'),
  baseDelayMs: setting('AUTH_DELAY_BASE_MS', durationSetting(500, 0), 'failures per address and per account only add a growing delay to wrong passwords, starting here, so another user behind the same NAT is never refused'),
  maxDelayMs: setting('AUTH_DELAY_MAX_MS', durationSetting(8000, 0), 'the longest such delay'),
  addressMaxFailures: setting('AUTH_ADDRESS_MAX_FAILURES', intSetting(0, 0), 'a hard limit of failures that locks a whole client address; 0 = off'),
});

export const loadAuthThrottleSettings = (env: NodeJS.ProcessEnv = process.env) => AUTH_THROTTLE_SETTINGS.load(env);

/** mailbox-store's settings. */
export const MAILBOX_STORE_SETTINGS = settingGroup(
  'mailbox-store',
  {
    grpcHost: setting('MAILBOX_GRPC_HOST', z.string().default('127.0.0.1'), 'address of the gRPC listener'),
    grpcPort: setting('MAILBOX_GRPC_PORT', portSetting(50051), 'gRPC port (`MAILBOX_STORE_ADDRESS` of its clients)'),
    ...httpListenerSettings('mailbox-store'),
    backend: setting('MAIL_STORE', z.enum(['embedded', 'mongo']).default('embedded'), '`embedded` keeps everything in files under `MAILBOX_DATA_DIR` (one process); `mongo` uses MongoDB (replicas)'),
    dataDir: setting('MAILBOX_DATA_DIR', z.string().default('.data/mailbox-store'), 'embedded store directory'),
    mongoUri: setting('MONGODB_URI', z.string().optional(), 'MongoDB connection string, with TLS and authentication options in it; required for `mongo`'),
    mongoDatabase: setting(
      'MONGODB_DATABASE',
      z.string().regex(/^[^/\\. "$]{1,63}$/, 'expected a MongoDB database name (1-63 characters, none of / \\ . space " $)').default('mail'),
      'MongoDB database',
    ),
    mongoServerSelectionTimeoutMs: setting('MONGODB_SERVER_SELECTION_TIMEOUT_MS', durationSetting(10_000, 100), 'how long to look for a MongoDB server before an operation (and start-up) fails'),
    mongoSweepIntervalSeconds: setting('MONGODB_SWEEP_INTERVAL_SECONDS', intSetting(600, 0), 'how often abandoned message bodies (a crash mid-write) are looked for; 0 only at start-up'),
    maxMessageBytes: setting('MAX_MESSAGE_BYTES', sizeSetting(50 * 1024 * 1024, 1), 'largest message accepted through Deliver'),
    natsUrl: NATS_URL_SETTING,
    localConcurrency: setting('MAILBOX_LOCAL_CONCURRENCY', intSetting(16, 1), 'local delivery jobs (the local lane, from queue-manager) one process works on at once'),
    maxLeaseSeconds: setting('MAILBOX_MAX_LEASE_SECONDS', intSetting(900, 1), 'a maildrop lease that is not renewed expires after this many seconds (a vanished POP3 session)'),
    deliveryRecordDays: setting(
      'MAILBOX_DELIVERY_RECORD_DAYS',
      intSetting(7, 1),
      'a delivery deleted by its user is still known as delivered this long, so a repeated delivery does not bring it back (keep above `QUEUE_MAX_LIFETIME`)',
    ),
  },
  (schema) =>
    schema.refine((config) => config.backend !== 'mongo' || !!config.mongoUri, {
      path: ['mongoUri'],
      message: 'MAIL_STORE=mongo needs MONGODB_URI (for example mongodb://127.0.0.1:27017/)',
    }),
);

/** Every group of settings mailbox-store reads, for the manifest. */
export const MAILBOX_STORE_SETTING_GROUPS = [MAILBOX_STORE_SETTINGS, AUTH_THROTTLE_SETTINGS, NATS_SETTINGS, GRPC_TLS_SETTINGS, LOG_SETTINGS];

export type MailboxStoreConfig = ReturnType<typeof MAILBOX_STORE_SETTINGS.load> & {
  /** Failed-login throttling (AUTH_*): mailbox-store keeps the records for every edge service. */
  authThrottle: ReturnType<typeof loadAuthThrottleSettings>;
};

export function loadMailboxStoreConfig(env: NodeJS.ProcessEnv = process.env): MailboxStoreConfig {
  const { store, authThrottle } = gatherSettings({ store: () => MAILBOX_STORE_SETTINGS.load(env), authThrottle: () => loadAuthThrottleSettings(env) });
  return { ...store, authThrottle };
}
