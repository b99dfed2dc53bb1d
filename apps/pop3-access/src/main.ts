// pop3-access: the POP3 server. Wiring only.
import { createLogger, exitOnStartupError, listen, onShutdown, startObservability } from '@mail/platform';
import { loadPop3Config } from './config.js';
import { MaildropService } from './maildrops.js';
import { createPop3Server } from './server.js';

const logger = createLogger('pop3-access');

async function main(): Promise<void> {
  const config = loadPop3Config();
  const maildrops = new MaildropService(config.mailboxStoreAddress, config.leaseSeconds, config.backendTimeoutMs, logger);
  const pop3 = createPop3Server(config, maildrops, logger);
  const port = await listen(pop3.server, config.port, config.host);
  const observability = await startObservability({ service: 'pop3-access', host: config.httpHost, port: config.httpPort, ready: () => true });
  logger.info({ pop3: `${config.host}:${port}`, http: observability.port }, 'pop3-access listening');
  onShutdown(logger, async () => {
    await pop3.close();
    await observability.close();
    maildrops.close();
  });
}

main().catch((err: unknown) => exitOnStartupError(logger, err));
