// mailbox-store settings, from the environment. Defaults suit a single machine.
import { z } from 'zod';
import { intSetting, loadConfig, portSetting } from '@mail/platform';

const schema = z.object({
  grpcHost: z.string().default('127.0.0.1'),
  grpcPort: portSetting(50051),
  httpHost: z.string().default('127.0.0.1'),
  httpPort: portSetting(9104),
  /** `embedded` keeps everything in files under dataDir. */
  backend: z.enum(['embedded']).default('embedded'),
  dataDir: z.string().default('.data/mailbox-store'),
  /** Where mail to the bare `postmaster` goes when no local domain has been added yet. */
  postmasterFallback: z.string().default('postmaster@localhost'),
  /** Largest message accepted through Deliver, in bytes. */
  maxMessageBytes: intSetting(50 * 1024 * 1024, 1),
  /** A maildrop lease that is not renewed expires after this many seconds (a vanished POP3 session). */
  maxLeaseSeconds: intSetting(900, 1),
});

export type MailboxStoreConfig = z.infer<typeof schema>;

export const loadMailboxStoreConfig = (env: NodeJS.ProcessEnv = process.env): MailboxStoreConfig =>
  loadConfig(
    schema,
    {
      grpcHost: 'MAILBOX_GRPC_HOST',
      grpcPort: 'MAILBOX_GRPC_PORT',
      httpHost: 'MAILBOX_HTTP_HOST',
      httpPort: 'MAILBOX_HTTP_PORT',
      backend: 'MAIL_STORE',
      dataDir: 'MAILBOX_DATA_DIR',
      postmasterFallback: 'MAILBOX_POSTMASTER_FALLBACK',
      maxMessageBytes: 'MAX_MESSAGE_BYTES',
      maxLeaseSeconds: 'MAILBOX_MAX_LEASE_SECONDS',
    },
    env,
  );
