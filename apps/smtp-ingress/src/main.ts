// smtp-ingress: the SMTP server facing the world (MX, submission, SMTPS). Wiring only.
import { routeConsoleTo, connectNats, createDnsLookup, createLogger, awaitStreams, exitOnStartupError, grpcClientSetup, listen, loadGrpcTlsSettings, loadNatsSettings, onShutdown, packageVersion, parseNetworks, probeJetStream, Spool as SpoolStream, startObservability, startupSettings } from '@mail/platform';
import { ConnectionLimits, TlsMaterial } from '@mail/wire';
import { MessageVerification, type MessageIdentity } from './auth/verification.js';
import type { AuthVerdict } from './auth/verdict.js';
import { loadSmtpIngressConfig } from './config.js';
import { MailboxDirectory } from './directory.js';
import { IngressEvents } from './events.js';
import { WindowRateLimit } from './rate-limit.js';
import { createSmtpServer, type ListenerProfile, type SmtpServer } from './server.js';
import type { SessionHooks } from './protocol/session.js';
import { newQueueId, Spool } from './spool.js';
import { STREAMS_USED } from '@mail/contracts';

const logger = createLogger('smtp-ingress');
// mailauth (DKIM, SPF, DMARC) may print: its lines become ours, JSON like every other.
routeConsoleTo(logger);
// Every setting is checked before anything starts (a bad one: one line each on stderr, exit status 78).
const { config, grpcTls, nats: natsSettings } = startupSettings('smtp-ingress', { config: () => loadSmtpIngressConfig(), grpcTls: () => loadGrpcTlsSettings(), nats: () => loadNatsSettings() });

async function main(): Promise<void> {
  const events = new IngressEvents(logger);
  const tls = await TlsMaterial.load(config.tls, logger);
  const nats = await connectNats(config.natsUrl, 'smtp-ingress', logger, natsSettings);
  await awaitStreams(nats, STREAMS_USED['smtp-ingress'], logger);
  // A message in the making stays live while its client may still be sending: twice the longest idle
  // wait of a connection, plus the time to store it.
  const liveForMs = 2 * Math.max(config.commandTimeoutMs, config.dataTimeoutMs) + config.authTimeoutMs + config.backendTimeoutMs;
  const spool = new Spool(new SpoolStream(nats, config.backendTimeoutMs, false), liveForMs, (queueId, envelope, size, clientAddress, listener) =>
    events.emit({ event: 'message-accepted', queueId, listener, client: clientAddress, sender: envelope.sender, recipients: envelope.recipients.length, size }),
  );
  const directory = new MailboxDirectory(
    config.mailboxStoreAddress,
    grpcClientSetup(grpcTls),
    config.backendTimeoutMs,
    (user, client, result) => events.emit({ event: 'auth', user, client, result }),
    config.recipientCacheMs,
  );
  const messageRate = new WindowRateLimit(config.maxMessagesPerAddress, config.rateWindowMs);
  const recipientRate = new WindowRateLimit(config.maxRecipientsPerAddress, config.rateWindowMs);
  const lookup = createDnsLookup({ servers: config.dnsServers, timeoutMs: config.dnsTimeoutMs, cacheMs: config.dnsCacheMs });
  const verification = {
    lookup,
    serverName: config.serverName,
    timeoutMs: config.authTimeoutMs,
    report: (identity: MessageIdentity, verdict: AuthVerdict) =>
      events.emit({
        event: 'message-authenticated',
        client: identity.clientAddress,
        sender: identity.sender,
        authorDomain: verdict.authorDomain ?? '',
        dmarc: verdict.dmarc.result,
        results: verdict.results.map(({ method, result }) => ({ method, result })),
      }),
  };
  const options = {
    ...config,
    authservId: config.authservId || config.serverName,
    authPolicy: {
      mode: config.authPolicy,
      byDomain: config.authPolicyMap,
      onTemporaryFailure: config.authOnTemporaryFailure,
      allow: config.authAllow,
    },
    tls,
    isTrustedNetwork: parseNetworks(config.relayNetworks),
    isTrustedProxy: parseNetworks(config.proxyTrustedNetworks),
    connections: new ConnectionLimits(config.maxConnections, config.maxConnectionsPerAddress, config.reservedConnectionsPercent),
    events,
  };
  const listeners: { profile: ListenerProfile; port: number | null }[] = [
    { profile: { name: 'smtp', implicitTls: false, auth: false, authRequired: false }, port: config.port },
    { profile: { name: 'submission', implicitTls: false, auth: true, authRequired: true }, port: config.submissionPort },
    { profile: { name: 'smtps', implicitTls: true, auth: true, authRequired: true }, port: tls ? config.smtpsPort : null },
  ];
  if (!tls && config.smtpsPort !== null) logger.warn('no TLS certificate (TLS_CERT_FILE/TLS_KEY_FILE): SMTPS is off and STARTTLS is not offered');
  const servers: SmtpServer[] = [];
  const bound: Record<string, string> = {};
  for (const { profile, port } of listeners) {
    if (port === null) continue;
    const hooks: SessionHooks = {
      checkRecipient: (address) => directory.check(address),
      storeMessage: (queueId) => spool.open(queueId, profile.name),
      newQueueId: () => newQueueId(),
      admitMessage: (clientAddress) => messageRate.admit(clientAddress),
      admitRecipient: (clientAddress) => recipientRate.admit(clientAddress),
      authenticate: profile.auth ? (user, password, clientAddress) => directory.authenticate(clientAddress, user, password) : undefined,
      verifyMessage: config.authChecks ? (identity) => new MessageVerification(identity, verification) : undefined,
    };
    const smtp = createSmtpServer(options, profile, hooks, logger);
    servers.push(smtp);
    bound[profile.name] = `${config.host}:${await listen(smtp.server, port, config.host)}`;
  }
  const jetStream = probeJetStream(nats);
  const observability = await startObservability({
    service: 'smtp-ingress',
    host: config.httpHost,
    port: config.httpPort,
    // Ready = can make mail durable (a timed JetStream round trip) and check recipients.
    ready: () => jetStream.healthy() && directory.ready(),
    checks: { nats: () => jetStream.healthy(), 'mailbox-store': () => directory.ready() },
    version: packageVersion(import.meta.url),
  });
  logger.info({ ...bound, http: observability.port, tls: Boolean(tls) }, 'smtp-ingress listening');
  onShutdown(logger, async () => {
    await Promise.all(servers.map((s) => s.close(config.shutdownGraceMs)));
    await observability.close();
    directory.close();
    tls?.close();
    await nats.nc.drain();
  }, config.shutdownGraceMs + 5_000);
}

main().catch((err: unknown) => exitOnStartupError(logger, err));
