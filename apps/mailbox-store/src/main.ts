// mailbox-store: owns accounts and mailboxes, serves them over gRPC. Wiring only.
import { MailboxStoreService } from '@mail/contracts';
import { createLogger, exitOnStartupError, onShutdown, startGrpcServer, startObservability, stopGrpcServer } from '@mail/platform';
import { loadMailboxStoreConfig } from './config.js';
import { createMailboxService } from './service.js';
import { EmbeddedStore } from './store/embedded-store.js';

const logger = createLogger('mailbox-store');

async function main(): Promise<void> {
  const config = loadMailboxStoreConfig();
  const store = await EmbeddedStore.open(config.dataDir, config.maxMessageBytes + 1024);
  const service = createMailboxService(store, logger, config);
  const grpcServer = await startGrpcServer(`${config.grpcHost}:${config.grpcPort}`, (server) =>
    server.addService(MailboxStoreService, service),
  );
  const observability = await startObservability({
    service: 'mailbox-store',
    host: config.httpHost,
    port: config.httpPort,
    ready: () => true,
  });
  logger.info({ grpc: `${config.grpcHost}:${grpcServer.port}`, http: observability.port, backend: config.backend, dataDir: config.dataDir }, 'mailbox-store listening');
  onShutdown(logger, async () => {
    await stopGrpcServer(grpcServer.server);
    await observability.close();
    await store.close();
  });
}

main().catch((err: unknown) => exitOnStartupError(logger, err));
