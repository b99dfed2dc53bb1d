// delivery-agent settings, from the environment.
import { z } from 'zod';
import { intSetting, loadConfig, portSetting } from '@mail/platform';

const schema = z.object({
  httpHost: z.string().default('127.0.0.1'),
  httpPort: portSetting(9103),
  natsUrl: z.string().default('nats://127.0.0.1:4222'),
  mailboxStoreAddress: z.string().default('127.0.0.1:50051'),
  /** Delivery jobs worked on at once by one process. */
  concurrency: intSetting(8, 1),
  /** A job not acknowledged within this time is handed to another worker. */
  ackWaitMs: intSetting(60_000, 1000),
  /** Deadline for one Deliver call to mailbox-store. */
  deliverTimeoutMs: intSetting(60_000, 1000),
});

export type DeliveryAgentConfig = z.infer<typeof schema>;

export const loadDeliveryAgentConfig = (env: NodeJS.ProcessEnv = process.env): DeliveryAgentConfig =>
  loadConfig(
    schema,
    {
      httpHost: 'DELIVERY_HTTP_HOST',
      httpPort: 'DELIVERY_HTTP_PORT',
      natsUrl: 'NATS_URL',
      mailboxStoreAddress: 'MAILBOX_STORE_ADDRESS',
      concurrency: 'DELIVERY_CONCURRENCY',
      ackWaitMs: 'DELIVERY_ACK_WAIT_MS',
      deliverTimeoutMs: 'DELIVERY_TIMEOUT_MS',
    },
    env,
  );
