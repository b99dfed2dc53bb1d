// delivery-agent: takes the remote lane's delivery jobs from JetStream and delivers them (the local lane is
// mailbox-store's own). Wiring only.
import { REMOTE_JOB_CONSUMER, REMOTE_JOB_STREAM, STREAMS_USED } from '@mail/contracts';
import {
  routeConsoleTo,
  addressLookup,
  connectNats,
  createDnsLookup,
  createLogger,
  exportDeliveryMetrics,
  awaitStreams,
  exitOnStartupError,
  grpcClientSetup,
  loadGrpcTlsSettings,
  loadNatsSettings,
  onShutdown,
  packageVersion,
  probeJetStream,
  ResultReporter,
  runJobConsumer,
  Spool,
  startObservability,
  startupSettings,
} from '@mail/platform';
import { loadDeliveryAgentConfig, tlsPolicyLookup } from './config.js';
import { DeliveryEvents, reportPostEvent } from './events.js';
import { DkimSigner } from './dkim-signer.js';
import { LocalDelivery } from './local-delivery.js';
import { RemoteDelivery } from './remote-delivery.js';
import { parseTransportMap, resolverFromLookup } from './routing.js';
import { KvPolicyStore } from './mta-sts/policy-store.js';
import { PolicySource } from './mta-sts/policy-source.js';
import { KvTlsReportStore, tlsReport } from './mta-sts/tls-report.js';
import { TlsReportSender } from './mta-sts/report-sender.js';
import { TransportSecurity } from './mta-sts/transport-security.js';
import { readFileSync } from 'node:fs';
import { SharedDomainBackoff } from './shared-limits.js';
import { Throttle } from './throttle.js';
import { DeliveryWorker } from './worker.js';
import { DeliveryLedger } from './ledger.js';

const logger = createLogger('delivery-agent');
// mailauth (DKIM, SPF, DMARC) may print: its lines become ours, JSON like every other.
routeConsoleTo(logger);
// Every setting is checked before anything starts (a bad one: one line each on stderr, exit status 78).
const { config, grpcTls, nats: natsSettings } = startupSettings('delivery-agent', { config: () => loadDeliveryAgentConfig(), grpcTls: () => loadGrpcTlsSettings(), nats: () => loadNatsSettings() });

async function main(): Promise<void> {
  const events = new DeliveryEvents(logger);
  const throttle = new Throttle(config.maxConnectionsPerHost, config.destinationBackoffMs);
  const nats = await connectNats(config.natsUrl, 'delivery-agent', logger, natsSettings);
  await awaitStreams(nats, STREAMS_USED['delivery-agent'], logger);
  // The back-off of a failing domain, shared by every replica (or, switched off, kept by each process).
  const sharedBackoff = config.sharedLimits && config.destinationBackoffMs > 0 ? await SharedDomainBackoff.open(nats, config.destinationBackoffMs) : undefined;
  // One resolver for MX records, MX host addresses, MTA-STS and TLS-RPT records (DNS_SERVERS); the system's names
  // (/etc/hosts) stay reachable by connection when no servers are configured.
  const lookup = createDnsLookup({ servers: config.dnsServers, timeoutMs: config.dnsTimeoutMs, cacheMs: config.dnsCacheMs });
  const extraCa = config.tlsExtraCaFile ? readFileSync(config.tlsExtraCaFile, 'utf8') : undefined;
  const tlsReports = await KvTlsReportStore.open(nats);
  const policies = new PolicySource(lookup, await KvPolicyStore.open(nats), {
    port: config.mtaStsHttpsPort,
    timeoutMs: config.mtaStsFetchTimeoutMs,
    retryFailedAfterMs: config.mtaStsRetryFailedMs,
    maxBytes: config.mtaStsMaxPolicyBytes,
    extraCa,
  });
  // Finished days' TLS-RPT reports, queued as mail or posted by whichever replica claims each first.
  const reportSender = new TlsReportSender(tlsReports.reportMarks(), new Spool(nats, 10_000, false), {
    organization: config.heloName,
    from: config.tlsRptFrom || `postmaster@${config.heloName}`,
    https: { lookup, extraCa, timeoutMs: config.tlsRptPostTimeoutMs },
    retryAfterMs: config.tlsRptSendIntervalMs,
    onPost: (attempt) => events.emit(reportPostEvent(attempt)),
  });
  const reportTimer = config.tlsRptSendIntervalMs > 0
    ? setInterval(() => void reportSender.sendDue().catch((err: unknown) => logger.warn({ err }, 'TLS-RPT reports not sent; trying again later')), config.tlsRptSendIntervalMs)
    : undefined;
  reportTimer?.unref();
  const security = new TransportSecurity({ enabled: config.mtaSts, extraCa }, lookup, policies, tlsReports);
  const remote = new RemoteDelivery(
    {
      heloName: config.heloName,
      smtpPort: config.remoteSmtpPort,
      transports: parseTransportMap(config.transportMap),
      tlsPolicy: tlsPolicyLookup(config),
      chunking: config.chunking,
      timeouts: {
        connect: config.timeoutConnectMs,
        greeting: config.timeoutGreetingMs,
        mail: config.timeoutMailMs,
        rcpt: config.timeoutRcptMs,
        dataInit: config.timeoutDataInitMs,
        dataBlock: config.timeoutDataBlockMs,
        dataTerm: config.timeoutDataTermMs,
      },
      lookup: config.dnsServers.length > 0 ? addressLookup(lookup) : undefined,
    },
    resolverFromLookup(lookup),
    throttle,
    events,
    sharedBackoff,
    security,
  );
  const local = new LocalDelivery(config.mailboxStoreAddress, grpcClientSetup(grpcTls), config.deliverTimeoutMs);
  const signer = new DkimSigner((domain) => local.signingKey(domain));
  exportDeliveryMetrics();
  // Which recipients remote servers have answered for good: a repeated job sends nothing twice.
  const ledger = await DeliveryLedger.open(nats, { claimMs: config.ledgerClaimMs, keepMs: config.ledgerKeepMs });
  const worker = new DeliveryWorker(new ResultReporter(nats), new Spool(nats), local, remote, ledger, events, signer);
  const stopConsumer = await runJobConsumer(nats, {
    stream: REMOTE_JOB_STREAM,
    durable: REMOTE_JOB_CONSUMER,
    ackWaitMs: config.ackWaitMs,
    concurrency: config.concurrency,
    logger,
    handleJob: (job) => worker.handle(job),
  });
  const jetStream = probeJetStream(nats);
  const observability = await startObservability({
    service: 'delivery-agent',
    host: config.httpHost,
    port: config.httpPort,
    // Jobs come through NATS; DKIM keys and the local domains' notices need mailbox-store: both, to be ready.
    ready: () => jetStream.healthy() && local.ready(),
    checks: { nats: () => jetStream.healthy(), 'mailbox-store': () => local.ready() },
    version: packageVersion(import.meta.url),
    // mailctl tlsrpt show: the TLS-RPT data collected (RFC 8460), or a domain's reports.
    pages: {
      '/tlsrpt': async (query) => {
        const days = await tlsReports.list(query.get('domain') ?? undefined);
        return query.get('format') === 'report' ? days.map((day) => tlsReport(day, config.heloName, `postmaster@${config.heloName}`)) : days;
      },
    },
  });
  logger.info({ http: observability.port }, 'delivery-agent running');
  onShutdown(logger, async () => {
    clearInterval(reportTimer);
    await stopConsumer();
    await observability.close();
    local.close();
    await nats.nc.drain();
  });
}

main().catch((err: unknown) => exitOnStartupError(logger, err));
