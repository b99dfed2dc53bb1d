// queue-manager: owns the mail queue — its entries, its clock and admission to each destination.
// Wiring only. Every replica mirrors the queue and serves the admin API; the one holding the lease
// (leadership.ts) takes accepted messages and results and dispatches jobs.
import { hostname } from 'node:os';
import {
  ACCEPTED_CONSUMER,
  ACCEPTED_FILTER,
  SPOOL_STREAM,
  QueueAdminService,
  RESULT_CONSUMER,
  RESULT_STREAM,
  decodeResultBatch,
} from '@mail/contracts';
import {
  connectNats,
  createLogger,
  ensureStreams,
  envelopeOf,
  exitOnStartupError,
  loadGrpcTlsSettings,
  authorizeCalls,
  loadNatsSettings,
  onShutdown,
  packageVersion,
  probeJetStream,
  runConsumer,
  serverCredentials,
  Spool,
  startGrpcServer,
  startObservability,
  startupSettings,
  stopGrpcServer,
} from '@mail/platform';
import { createAdminService, QUEUE_ADMIN_CALLERS } from './admin-service.js';
import { loadQueueManagerConfig } from './config.js';
import { Admission, parseDomainLimits } from './core/admission.js';
import { NatsQueuePort } from './core/nats-queue-port.js';
import { QueueCore } from './core/queue-core.js';
import { QueueEvents } from './events.js';
import { campaign } from './leadership.js';
import { exportQueueGauges } from './metrics.js';
import { RetrySchedule } from './retry-schedule.js';

/** Chunks with no head this old are orphans (a part-way queueing): swept this often too. */
const ORPHAN_CHUNK_AGE_MS = 10 * 60_000;
const logger = createLogger('queue-manager');
// Every setting is checked before anything starts (a bad one: one line each on stderr, exit status 78).
const { config, grpcTls, nats: natsSettings } = startupSettings('queue-manager', { config: () => loadQueueManagerConfig(), grpcTls: () => loadGrpcTlsSettings(), nats: () => loadNatsSettings() });

async function main(): Promise<void> {
  const defaults = { maxConnections: config.maxConnectionsPerDomain, maxMessagesPerWindow: config.maxMessagesPerWindow, windowMs: config.rateWindowMs };
  const overrides = parseDomainLimits(config.domainLimits, defaults);
  const nats = await connectNats(config.natsUrl, 'queue-manager', logger, natsSettings);
  await ensureStreams(nats, 1024 * 1024, logger);
  const spool = new Spool(nats);
  const port = await NatsQueuePort.open(nats, spool, { jobTimeoutMs: config.localJobTimeout, logger });
  const events = new QueueEvents(logger);
  const core = new QueueCore(port, {
    policy: {
      remoteRetry: new RetrySchedule(config.retrySchedule),
      localRetry: new RetrySchedule(config.localRetrySchedule),
      maxLifetimeMs: config.maxLifetime,
      delayWarningMs: config.delayWarning,
      jobTimeoutMs: config.jobTimeout,
      localJobTimeoutMs: config.localJobTimeout,
    },
    admission: new Admission({
      limitsFor: (domain) => overrides.get(domain) ?? defaults,
      laneLimits: { local: config.localInFlight, remote: config.remoteInFlight },
      initialConcurrency: config.initialDestinationConcurrency,
    }),
    events,
    reportingMta: config.reportingMta,
  });
  // Local jobs' results come with the answers to their requests; remote ones through MAIL_RESULTS (below).
  port.receiveLocalResults((result) => core.onResult(result));
  const mirror = await port.mirror((queueId, revision, read) => void core.onStoredChange(queueId, revision, read));
  core.load(mirror.initial);

  const grpcTls = loadGrpcTlsSettings();
  const grpcServer = await startGrpcServer(`${config.grpcHost}:${config.grpcPort}`, (server) =>
    server.addService(QueueAdminService, authorizeCalls(QueueAdminService, createAdminService(core, logger), QUEUE_ADMIN_CALLERS, grpcTls.enabled && grpcTls.mutual)),
    serverCredentials(grpcTls),
  );
  exportQueueGauges(core, nats);
  const jetStream = probeJetStream(nats);
  const observability = await startObservability({
    service: 'queue-manager',
    host: config.httpHost,
    port: config.httpPort,
    ready: () => jetStream.healthy(),
    checks: { nats: () => jetStream.healthy() },
    version: packageVersion(import.meta.url),
  });
  const instance = config.instance || `${hostname()}:${grpcServer.port}`;
  logger.info({ http: observability.port, grpc: `${config.grpcHost}:${grpcServer.port}`, instance, entries: core.size }, 'queue-manager running');

  const stops: ((graceMs?: number) => Promise<void>)[] = [];
  let shuttingDown = false;
  let sweeper: NodeJS.Timeout | undefined;
  let reconciler: NodeJS.Timeout | undefined;
  const leadership = await campaign(nats, instance, config.leaderLease, () => {
    events.emit({ event: 'leadership', instance, role: 'lost' });
    // Another replica has the queue now: stop at once; the process manager starts a standby again.
    process.exit(75);
  });
  events.emit({ event: 'leadership', instance, role: 'standby' });
  void leadership.acquired.then(async () => {
    if (shuttingDown) return;
    events.emit({ event: 'leadership', instance, role: 'active' });
    await core.activate();
    const common = { ackWaitMs: config.ackWaitMs, concurrency: config.concurrency, logger };
    stops.push(
      await runConsumer(nats, {
        ...common,
        stream: SPOOL_STREAM,
        durable: ACCEPTED_CONSUMER,
        // The heads of spooled messages, headers only: the envelope is all queue-manager needs.
        filterSubject: ACCEPTED_FILTER,
        headersOnly: true,
        handle: (_data, info) => core.onAccepted(envelopeOf(info.headers), info.deliveryCount > 1, info.streamSequence),
      }),
      // The remote lane's results.
      await runConsumer(nats, {
        ...common,
        stream: RESULT_STREAM,
        durable: RESULT_CONSUMER,
        // A batch of results: each settles its own entry; a failure hands the whole batch back, and the
        // ones already settled are then repeats, which settle nothing.
        handle: async (data) => {
          await Promise.all(decodeResultBatch(data).map((result) => core.onResult(result)));
        },
      }),
    );
    // Chunks that no head names (a queueing that failed part-way: smtp-ingress may not delete them).
    const sweep = () =>
      spool.sweepOrphanChunks(ORPHAN_CHUNK_AGE_MS).then(
        (deleted) => deleted > 0 && logger.warn({ deleted }, 'deleted spooled chunks that no message names'),
        (err: unknown) => logger.warn({ err: String(err) }, 'sweeping orphaned spool chunks failed'),
      );
    void sweep();
    sweeper = setInterval(() => void sweep(), ORPHAN_CHUNK_AGE_MS);
    sweeper.unref();
    // Spooled messages without an entry (see QueueCore.reconcileSpool): soon after taking over, then now and then.
    const reconcile = () => void core.reconcileSpool().catch((err: unknown) => logger.warn({ err: String(err) }, 'reading the spool to plan messages without an entry failed'));
    reconciler = setInterval(reconcile, config.spoolReconcileMs);
    reconciler.unref();
    setTimeout(reconcile, Math.min(15_000, config.spoolReconcileMs)).unref();
  }).catch((err: unknown) => exitOnStartupError(logger, err));

  onShutdown(logger, async () => {
    shuttingDown = true;
    clearInterval(sweeper);
    clearInterval(reconciler);
    await stopGrpcServer(grpcServer.server);
    for (const stop of stops) await stop();
    // Answers still to come are left to the successor, which sends those jobs again.
    port.receiveLocalResults(async () => undefined);
    core.deactivate();
    await leadership.release();
    mirror.stop();
    await observability.close();
    await nats.nc.drain();
  });
}

main().catch((err: unknown) => exitOnStartupError(logger, err));
