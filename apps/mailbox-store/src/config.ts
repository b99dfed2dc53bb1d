// mailbox-store settings, from the environment. Defaults suit a single machine.
import { z } from 'zod';
import { durationSetting, gatherSettings, intSetting, loadAuthThrottleSettings, loadConfig, portSetting, sizeSetting, SERVICE_HTTP_PORTS } from '@mail/platform';

const schema = z.object({
  grpcHost: z.string().default('127.0.0.1'),
  grpcPort: portSetting(50051),
  httpHost: z.string().default('127.0.0.1'),
  httpPort: portSetting(SERVICE_HTTP_PORTS['mailbox-store'].fallback),
  /** `embedded` keeps everything in files under dataDir (one process); `mongo` uses MongoDB (replicas). */
  backend: z.enum(['embedded', 'mongo']).default('embedded'),
  dataDir: z.string().default('.data/mailbox-store'),
  /** MongoDB connection string, with TLS and authentication options in it; required for `mongo`. */
  mongoUri: z.string().optional(),
  mongoDatabase: z.string().regex(/^[^/\\. "$]{1,63}$/, 'expected a MongoDB database name (1-63 characters, none of / \\ . space " $)').default('mail'),
  /** How long to look for a MongoDB server before an operation (and start-up) fails. */
  mongoServerSelectionTimeoutMs: durationSetting(10_000, 100),
  /** How often abandoned message bodies (a crash mid-write) are looked for; 0 only at start-up. */
  mongoSweepIntervalSeconds: intSetting(600, 0),
  /** Largest message accepted through Deliver, in bytes. */
  maxMessageBytes: sizeSetting(50 * 1024 * 1024, 1),
  /** A maildrop lease that is not renewed expires after this many seconds (a vanished POP3 session). */
  maxLeaseSeconds: intSetting(900, 1),
  /**
   * How many days a delivery deleted by its user is still recognised as delivered, so that a repeated
   * delivery does not bring it back; keep it above the queue's lifetime (QUEUE_MAX_LIFETIME).
   */
  deliveryRecordDays: intSetting(7, 1),
});

export type MailboxStoreConfig = z.infer<typeof schema> & {
  /** Failed-login throttling (AUTH_*): mailbox-store keeps the records for every edge service. */
  authThrottle: ReturnType<typeof loadAuthThrottleSettings>;
};

const checked = schema.refine((config) => config.backend !== 'mongo' || !!config.mongoUri, {
  path: ['mongoUri'],
  message: 'MAIL_STORE=mongo needs MONGODB_URI (for example mongodb://127.0.0.1:27017/)',
});

export function loadMailboxStoreConfig(env: NodeJS.ProcessEnv = process.env): MailboxStoreConfig {
  const { store, authThrottle } = gatherSettings({ store: () => loadStoreConfig(env), authThrottle: () => loadAuthThrottleSettings(env) });
  return { ...store, authThrottle };
}

const loadStoreConfig = (env: NodeJS.ProcessEnv) =>
  loadConfig(
    checked,
    {
      grpcHost: 'MAILBOX_GRPC_HOST',
      grpcPort: 'MAILBOX_GRPC_PORT',
      httpHost: 'MAILBOX_HTTP_HOST',
      httpPort: 'MAILBOX_HTTP_PORT',
      backend: 'MAIL_STORE',
      dataDir: 'MAILBOX_DATA_DIR',
      mongoUri: 'MONGODB_URI',
      mongoDatabase: 'MONGODB_DATABASE',
      mongoServerSelectionTimeoutMs: 'MONGODB_SERVER_SELECTION_TIMEOUT_MS',
      mongoSweepIntervalSeconds: 'MONGODB_SWEEP_INTERVAL_SECONDS',
      maxMessageBytes: 'MAX_MESSAGE_BYTES',
      deliveryRecordDays: 'MAILBOX_DELIVERY_RECORD_DAYS',
      maxLeaseSeconds: 'MAILBOX_MAX_LEASE_SECONDS',
    },
    env,
  );
