// smtp-ingress: the SMTP server facing the world. Wiring only.
import {
  connectNats,
  createLogger,
  ensureStreams,
  exitOnStartupError,
  listen,
  onShutdown,
  openSpoolBucket,
  startObservability,
} from '@mail/platform';
import { loadSmtpIngressConfig } from './config.js';
import { parseNetworks } from './networks.js';
import { RecipientDirectory } from './recipients.js';
import { createSmtpServer } from './server.js';
import { newQueueId, Spool } from './spool.js';

const logger = createLogger('smtp-ingress');

async function main(): Promise<void> {
  const config = loadSmtpIngressConfig();
  const nats = await connectNats(config.natsUrl, 'smtp-ingress', logger);
  await ensureStreams(nats.jsm, 1024 * 1024);
  const spool = new Spool(nats, await openSpoolBucket(nats), config.backendTimeoutMs);
  const directory = new RecipientDirectory(config.mailboxStoreAddress, config.backendTimeoutMs);
  const smtp = createSmtpServer(
    { ...config, isTrustedNetwork: parseNetworks(config.relayNetworks) },
    {
      checkRecipient: (address) => directory.check(address),
      enqueue: async (queueId, envelope, message) => {
        await spool.enqueue(queueId, envelope, message, '');
        logger.info({ queueId, sender: envelope.sender, recipients: envelope.recipients.length, size: message.length }, 'message accepted');
      },
      newQueueId: () => newQueueId(),
    },
    logger,
  );
  const port = await listen(smtp.server, config.port, config.host);
  const observability = await startObservability({
    service: 'smtp-ingress',
    host: config.httpHost,
    port: config.httpPort,
    ready: () => !nats.nc.isClosed(),
  });
  logger.info({ smtp: `${config.host}:${port}`, http: observability.port }, 'smtp-ingress listening');
  onShutdown(logger, async () => {
    await smtp.close();
    await observability.close();
    directory.close();
    await nats.nc.drain();
  });
}

main().catch((err: unknown) => exitOnStartupError(logger, err));
