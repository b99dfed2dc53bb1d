// delivery-agent: takes delivery jobs from JetStream and delivers them. Wiring only.
import { DELIVERY_CONSUMER, DELIVERY_STREAM, DeliveryJob, decodePayload } from '@mail/contracts';
import {
  connectNats,
  createLogger,
  ensureStreams,
  exitOnStartupError,
  grpcClientSetup,
  loadGrpcTlsSettings,
  onShutdown,
  openSpoolBucket,
  runConsumer,
  startObservability,
} from '@mail/platform';
import { loadDeliveryAgentConfig, tlsPolicyLookup } from './config.js';
import { DeliveryEvents } from './events.js';
import { LocalDelivery } from './local-delivery.js';
import { RemoteDelivery } from './remote-delivery.js';
import { parseTransportMap, systemResolver } from './routing.js';
import { SharedDomainBackoff, SharedDomainRate } from './shared-limits.js';
import { SharedDomainSlots } from './shared-slots.js';
import { parseDomainLimits, Throttle } from './throttle.js';
import { DeliveryWorker } from './worker.js';

const logger = createLogger('delivery-agent');

async function main(): Promise<void> {
  const config = loadDeliveryAgentConfig();
  const events = new DeliveryEvents(logger);
  const defaults = { maxConnections: config.maxConnectionsPerDomain, maxMessagesPerWindow: config.maxMessagesPerWindow, windowMs: config.rateWindowMs };
  const throttle = new Throttle(defaults, parseDomainLimits(config.domainLimits, defaults), config.maxConnectionsPerHost, config.destinationBackoffMs);
  const nats = await connectNats(config.natsUrl, 'delivery-agent', logger);
  await ensureStreams(nats, 1024 * 1024);
  // Per-domain limits shared by every replica (or, switched off, kept by each process).
  const shared = config.sharedLimits
    ? {
        slots: await SharedDomainSlots.open(nats, config.slotLeaseMs),
        rate: await SharedDomainRate.open(nats, config.rateWindowMs),
        backoff: config.destinationBackoffMs > 0 ? await SharedDomainBackoff.open(nats, config.destinationBackoffMs) : undefined,
      }
    : undefined;
  const remote = new RemoteDelivery(
    {
      heloName: config.heloName,
      smtpPort: config.remoteSmtpPort,
      transports: parseTransportMap(config.transportMap),
      tlsPolicy: tlsPolicyLookup(config),
      timeouts: {
        connect: config.timeoutConnectMs,
        greeting: config.timeoutGreetingMs,
        mail: config.timeoutMailMs,
        rcpt: config.timeoutRcptMs,
        dataInit: config.timeoutDataInitMs,
        dataBlock: config.timeoutDataBlockMs,
        dataTerm: config.timeoutDataTermMs,
      },
    },
    systemResolver,
    throttle,
    events,
    shared?.backoff,
  );
  const local = new LocalDelivery(config.mailboxStoreAddress, grpcClientSetup(loadGrpcTlsSettings()), config.deliverTimeoutMs);
  const worker = new DeliveryWorker(nats, await openSpoolBucket(nats), local, remote, throttle, events, shared?.slots, shared?.rate);
  const stop = await runConsumer(nats, {
    stream: DELIVERY_STREAM,
    durable: DELIVERY_CONSUMER,
    ackWaitMs: config.ackWaitMs,
    concurrency: config.concurrency,
    logger,
    handle: (data, info) => worker.handle(decodePayload(DeliveryJob, data), info.deliveryCount),
  });
  const observability = await startObservability({
    service: 'delivery-agent',
    host: config.httpHost,
    port: config.httpPort,
    // Remote delivery needs only NATS, but local delivery needs mailbox-store: both, to be ready.
    ready: () => nats.connected() && local.ready(),
  });
  logger.info({ http: observability.port }, 'delivery-agent running');
  onShutdown(logger, async () => {
    await stop();
    await observability.close();
    local.close();
    await nats.nc.drain();
  });
}

main().catch((err: unknown) => exitOnStartupError(logger, err));
