// queue-manager settings, from the environment.
import { z } from 'zod';
import { intSetting, loadConfig, portSetting } from '@mail/platform';

const schema = z.object({
  httpHost: z.string().default('127.0.0.1'),
  httpPort: portSetting(9102),
  natsUrl: z.string().default('nats://127.0.0.1:4222'),
  /** Accepted messages and delivery results handled at once. */
  concurrency: intSetting(16, 1),
  ackWaitMs: intSetting(30_000, 1000),
});

export type QueueManagerConfig = z.infer<typeof schema>;

export const loadQueueManagerConfig = (env: NodeJS.ProcessEnv = process.env): QueueManagerConfig =>
  loadConfig(
    schema,
    {
      httpHost: 'QUEUE_HTTP_HOST',
      httpPort: 'QUEUE_HTTP_PORT',
      natsUrl: 'NATS_URL',
      concurrency: 'QUEUE_CONCURRENCY',
      ackWaitMs: 'QUEUE_ACK_WAIT_MS',
    },
    env,
  );
