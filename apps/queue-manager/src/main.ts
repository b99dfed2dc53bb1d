// queue-manager: owns the mail queue. Wiring only.
import {
  ACCEPTED_CONSUMER,
  ACCEPTED_STREAM,
  AcceptedMessage,
  DeliveryResult,
  QueueAdminService,
  RESULT_CONSUMER,
  RESULT_STREAM,
  SCHEDULE_CONSUMER,
  SCHEDULE_STREAM,
  ScheduleTick,
  decodePayload,
} from '@mail/contracts';
import {
  connectNats,
  createLogger,
  ensureStreams,
  exitOnStartupError,
  onShutdown,
  openSpoolBucket,
  runConsumer,
  loadGrpcTlsSettings,
  serverCredentials,
  startGrpcServer,
  startObservability,
  stopGrpcServer,
} from '@mail/platform';
import { createAdminService } from './admin-service.js';
import { loadQueueManagerConfig } from './config.js';
import { QueueEvents } from './events.js';
import { exportQueueGauges } from './metrics.js';
import { QueueStore } from './queue-store.js';
import { RetrySchedule } from './retry-schedule.js';
import { Scheduler } from './scheduler.js';

const logger = createLogger('queue-manager');

async function main(): Promise<void> {
  const config = loadQueueManagerConfig();
  const nats = await connectNats(config.natsUrl, 'queue-manager', logger);
  await ensureStreams(nats, 1024 * 1024);
  const queue = await QueueStore.open(nats);
  exportQueueGauges(queue);
  const scheduler = new Scheduler(
    nats,
    queue,
    await openSpoolBucket(nats),
    {
      schedule: new RetrySchedule(config.retrySchedule, config.maxLifetime),
      delayWarningMs: config.delayWarning,
      reportingMta: config.reportingMta,
    },
    new QueueEvents(logger),
  );
  const common = { ackWaitMs: config.ackWaitMs, concurrency: config.concurrency, logger };
  const stops = [
    await runConsumer(nats, { ...common, stream: ACCEPTED_STREAM, durable: ACCEPTED_CONSUMER, handle: (data) => scheduler.onAccepted(decodePayload(AcceptedMessage, data)) }),
    await runConsumer(nats, { ...common, stream: RESULT_STREAM, durable: RESULT_CONSUMER, handle: (data) => scheduler.onResult(decodePayload(DeliveryResult, data)) }),
    await runConsumer(nats, { ...common, stream: SCHEDULE_STREAM, durable: SCHEDULE_CONSUMER, handle: (data) => scheduler.onTick(decodePayload(ScheduleTick, data)) }),
  ];
  const grpcServer = await startGrpcServer(`${config.grpcHost}:${config.grpcPort}`, (server) =>
    server.addService(QueueAdminService, createAdminService(scheduler, logger)),
    serverCredentials(loadGrpcTlsSettings()),
  );
  const observability = await startObservability({
    service: 'queue-manager',
    host: config.httpHost,
    port: config.httpPort,
    ready: () => nats.connected(),
  });
  logger.info({ http: observability.port, grpc: `${config.grpcHost}:${grpcServer.port}` }, 'queue-manager running');
  onShutdown(logger, async () => {
    await stopGrpcServer(grpcServer.server);
    for (const stop of stops) await stop();
    await observability.close();
    await nats.nc.drain();
  });
}

main().catch((err: unknown) => exitOnStartupError(logger, err));
