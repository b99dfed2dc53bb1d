// mailbox-store: owns accounts and mailboxes, serves them over gRPC, and takes the local lane's delivery
// jobs from JetStream. Wiring only.
import { MailboxStoreService, MailboxStoreServiceWithBulkReplies } from '@mail/contracts';
import {
  authorizeCalls,
  connectNats,
  createLogger,
  exitOnStartupError,
  exportDeliveryMetrics,
  loadGrpcTlsSettings,
  loadNatsSettings,
  onShutdown,
  packageVersion,
  serverCredentials,
  startGrpcServer,
  startObservability,
  startupSettings,
  stopGrpcServer,
} from '@mail/platform';
import { loadMailboxStoreConfig, type MailboxStoreConfig } from './config.js';
import { MAILBOX_STORE_CALLERS } from './callers.js';
import { startLocalLane } from './local-lane.js';
import { createMailboxes } from './service.js';
import { EmbeddedStore } from './store/embedded-store.js';
import { MongoStore, redactUri } from './store/mongo-store.js';
import type { MailStore } from './store/types.js';

const logger = createLogger('mailbox-store');
// Every setting is checked before anything starts (a bad one: one line each on stderr, exit status 78).
const { config, nats: natsSettings } = startupSettings('mailbox-store', { config: () => loadMailboxStoreConfig(), grpcTls: () => loadGrpcTlsSettings(), nats: () => loadNatsSettings() });

/** The backend chosen by MAIL_STORE. Headroom over the message limit leaves room for the trace headers. */
function openStore(config: MailboxStoreConfig): Promise<MailStore> {
  const maxMessageBytes = config.maxMessageBytes + 1024;
  const deliveryRecordMs = config.deliveryRecordDays * 24 * 60 * 60 * 1000;
  if (config.backend === 'mongo') {
    return MongoStore.open({
      uri: config.mongoUri!,
      database: config.mongoDatabase,
      maxMessageBytes,
      serverSelectionTimeoutMS: config.mongoServerSelectionTimeoutMs,
      sweepIntervalMs: config.mongoSweepIntervalSeconds * 1000,
      deliveryRecordMs,
    });
  }
  return EmbeddedStore.open(config.dataDir, maxMessageBytes, deliveryRecordMs);
}

const storeLocation = (config: MailboxStoreConfig) =>
  config.backend === 'mongo' ? { mongo: redactUri(config.mongoUri!), database: config.mongoDatabase } : { dataDir: config.dataDir };

async function main(): Promise<void> {
  const store = await openStore(config);
  const mailboxes = createMailboxes(store, logger, config);
  const grpcTls = loadGrpcTlsSettings();
  const grpcServer = await startGrpcServer(`${config.grpcHost}:${config.grpcPort}`, (server) =>
    // FetchMessages' replies (many message bodies) are encoded with one copy of each body.
    server.addService(MailboxStoreServiceWithBulkReplies, authorizeCalls(MailboxStoreService, mailboxes.service, MAILBOX_STORE_CALLERS, grpcTls.enabled && grpcTls.mutual)),
    serverCredentials(grpcTls),
  );
  // The local lane: jobs as NATS requests once the spool exists (queue-manager creates it). The gRPC
  // service does not wait for it: POP3 and mailctl are served while the broker is away.
  exportDeliveryMetrics();
  const lane = startLocalLane(mailboxes, {
    connect: () => connectNats(config.natsUrl, 'mailbox-store', logger, natsSettings),
    concurrency: config.localConcurrency,
    logger,
    onFatal: (err) => exitOnStartupError(logger, err),
  });
  const storageAnswers = () =>
    Promise.race([
      store.listDomains().then(() => true, () => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000).unref()),
    ]);
  const observability = await startObservability({
    service: 'mailbox-store',
    host: config.httpHost,
    port: config.httpPort,
    // Ready when the backend answers a cheap query within 2 s (MongoDB reachable; embedded: always). Not
    // the broker: without it local jobs wait in their stream, but logins and POP3 must go on.
    ready: storageAnswers,
    checks: { [`storage (${config.backend})`]: storageAnswers, nats: () => lane.healthy() },
    version: packageVersion(import.meta.url),
  });
  logger.info({ grpc: `${config.grpcHost}:${grpcServer.port}`, http: observability.port, backend: config.backend, ...storeLocation(config) }, 'mailbox-store listening');
  onShutdown(logger, async () => {
    // The jobs in hand finish (queue-manager sends the unanswered again) before the store closes under them.
    await lane.stop();
    await stopGrpcServer(grpcServer.server);
    await observability.close();
    await store.close();
  });
}

main().catch((err: unknown) => exitOnStartupError(logger, err));
