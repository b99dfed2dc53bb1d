// pop3-access: the POP3 server (110 with STLS, 995 implicit TLS). Wiring only.
import { createLogger, exitOnStartupError, grpcClientSetup, listen, loadGrpcTlsSettings, onShutdown, packageVersion, parseNetworks, startObservability, startupSettings } from '@mail/platform';
import { ConnectionLimits, TlsMaterial } from '@mail/wire';
import { loadPop3Config } from './config.js';
import { Pop3Events } from './events.js';
import { MailboxStoreMaildrops } from './maildrops.js';
import { readAheadLimits } from './read-ahead.js';
import { createPop3Server, type Pop3Server } from './server.js';

const logger = createLogger('pop3-access');
// Every setting is checked before anything starts (a bad one: one line each on stderr, exit status 78).
const { config, grpcTls } = startupSettings('pop3-access', { config: () => loadPop3Config(), grpcTls: () => loadGrpcTlsSettings() });

async function main(): Promise<void> {
  const tls = await TlsMaterial.load(config.tls, logger);
  const events = new Pop3Events(logger);
  const maildrops = new MailboxStoreMaildrops(config.mailboxStoreAddress, grpcClientSetup(grpcTls), config.leaseSeconds, config.backendTimeoutMs, events, readAheadLimits(config.readAheadBytes));
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
  const observability = await startObservability({ service: 'pop3-access', host: config.httpHost, port: config.httpPort, ready: () => maildrops.ready(), checks: { 'mailbox-store': () => maildrops.ready() }, version: packageVersion(import.meta.url) });
  logger.info({ ...bound, http: observability.port, tls: Boolean(tls) }, 'pop3-access listening');
  onShutdown(logger, async () => {
    await Promise.all(servers.map((s) => s.close()));
    await observability.close();
    maildrops.close();
    tls?.close();
  });
}

main().catch((err: unknown) => exitOnStartupError(logger, err));
