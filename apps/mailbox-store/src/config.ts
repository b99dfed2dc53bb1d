// mailbox-store settings, from the environment. Defaults suit a single machine.
import { z } from 'zod';
import { AUTH_THROTTLE_SETTINGS, durationSetting, gatherSettings, GRPC_TLS_SETTINGS, intSetting, loadAuthThrottleSettings, LOG_SETTINGS, portSetting, httpListenerSettings, setting, settingGroup, sizeSetting } from '@mail/platform';

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
export const MAILBOX_STORE_SETTING_GROUPS = [MAILBOX_STORE_SETTINGS, AUTH_THROTTLE_SETTINGS, GRPC_TLS_SETTINGS, LOG_SETTINGS];

export type MailboxStoreConfig = ReturnType<typeof MAILBOX_STORE_SETTINGS.load> & {
  /** Failed-login throttling (AUTH_*): mailbox-store keeps the records for every edge service. */
  authThrottle: ReturnType<typeof loadAuthThrottleSettings>;
};

export function loadMailboxStoreConfig(env: NodeJS.ProcessEnv = process.env): MailboxStoreConfig {
  const { store, authThrottle } = gatherSettings({ store: () => MAILBOX_STORE_SETTINGS.load(env), authThrottle: () => loadAuthThrottleSettings(env) });
  return { ...store, authThrottle };
}
