// queue-manager: owns the mail queue. Wiring only.
import {
  ACCEPTED_CONSUMER,
  ACCEPTED_STREAM,
  AcceptedMessage,
  DeliveryResult,
  RESULT_CONSUMER,
  RESULT_STREAM,
  decodePayload,
} from '@mail/contracts';
import { connectNats, createLogger, ensureStreams, exitOnStartupError, onShutdown, openSpoolBucket, runConsumer, startObservability } from '@mail/platform';
import { loadQueueManagerConfig } from './config.js';
import { QueueStore } from './queue-store.js';
import { Scheduler } from './scheduler.js';

const logger = createLogger('queue-manager');

async function main(): Promise<void> {
  const config = loadQueueManagerConfig();
  const nats = await connectNats(config.natsUrl, 'queue-manager', logger);
  await ensureStreams(nats.jsm, 1024 * 1024);
  const queue = await QueueStore.open(nats);
  const spoolBucket = await openSpoolBucket(nats);
  const scheduler = new Scheduler(nats, queue, { delete: async (id) => void (await spoolBucket.delete(id)) }, logger);
  const stopAccepted = await runConsumer(nats, {
    stream: ACCEPTED_STREAM,
    durable: ACCEPTED_CONSUMER,
    ackWaitMs: config.ackWaitMs,
    concurrency: config.concurrency,
    logger,
    handle: (data) => scheduler.onAccepted(decodePayload(AcceptedMessage, data)),
  });
  const stopResults = await runConsumer(nats, {
    stream: RESULT_STREAM,
    durable: RESULT_CONSUMER,
    ackWaitMs: config.ackWaitMs,
    concurrency: config.concurrency,
    logger,
    handle: (data) => scheduler.onResult(decodePayload(DeliveryResult, data)),
  });
  const observability = await startObservability({
    service: 'queue-manager',
    host: config.httpHost,
    port: config.httpPort,
    ready: () => !nats.nc.isClosed(),
  });
  logger.info({ http: observability.port }, 'queue-manager running');
  onShutdown(logger, async () => {
    await stopAccepted();
    await stopResults();
    await observability.close();
    await nats.nc.drain();
  });
}

main().catch((err: unknown) => exitOnStartupError(logger, err));
