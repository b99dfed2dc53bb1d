// pop3-access: the POP3 server (110 with STLS, 995 implicit TLS). Wiring only.
import { ConnectionLimits, createLogger, exitOnStartupError, grpcClientSetup, listen, loadGrpcTlsSettings, onShutdown, parseNetworks, startObservability, TlsMaterial } from '@mail/platform';
import { loadPop3Config } from './config.js';
import { Pop3Events } from './events.js';
import { MaildropService } from './maildrops.js';
import { createPop3Server, type Pop3Server } from './server.js';

const logger = createLogger('pop3-access');

async function main(): Promise<void> {
  const config = loadPop3Config();
  const tls = await TlsMaterial.load(config.tls, logger);
  const events = new Pop3Events(logger);
  const maildrops = new MaildropService(config.mailboxStoreAddress, grpcClientSetup(loadGrpcTlsSettings()), config.leaseSeconds, config.backendTimeoutMs, events);
  const options = { ...config, tls, events, isTrustedProxy: parseNetworks(config.proxyTrustedNetworks) };
  const connections = new ConnectionLimits(config.maxConnections, config.maxConnectionsPerAddress, config.reservedConnectionsPercent);
  const servers: Pop3Server[] = [];
  const bound: Record<string, string> = {};
  const plain = createPop3Server(options, maildrops, logger, { implicitTls: false, connections });
  servers.push(plain);
  bound.pop3 = `${config.host}:${await listen(plain.server, config.port, config.host)}`;
  if (tls && config.tlsPort !== null) {
    const secure = createPop3Server(options, maildrops, logger, { implicitTls: true, connections });
    servers.push(secure);
    bound.pop3s = `${config.host}:${await listen(secure.server, config.tlsPort, config.host)}`;
  } else if (!tls) logger.warn('no TLS certificate (TLS_CERT_FILE/TLS_KEY_FILE): POP3S is off and STLS is not offered');
  const observability = await startObservability({ service: 'pop3-access', host: config.httpHost, port: config.httpPort, ready: () => maildrops.ready() });
  logger.info({ ...bound, http: observability.port, tls: Boolean(tls) }, 'pop3-access listening');
  onShutdown(logger, async () => {
    await Promise.all(servers.map((s) => s.close()));
    await observability.close();
    maildrops.close();
    tls?.close();
  });
}

main().catch((err: unknown) => exitOnStartupError(logger, err));
