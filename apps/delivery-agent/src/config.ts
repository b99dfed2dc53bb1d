// delivery-agent settings, from the environment.
import { hostname } from 'node:os';
import { z } from 'zod';
import { boolSetting, intSetting, loadConfig, portSetting } from '@mail/platform';

const ms = (fallback: number) => intSetting(fallback, 1);

const schema = z.object({
  httpHost: z.string().default('127.0.0.1'),
  httpPort: portSetting(9103),
  natsUrl: z.string().default('nats://127.0.0.1:4222'),
  mailboxStoreAddress: z.string().default('127.0.0.1:50051'),
  /** Delivery jobs worked on at once by one process. */
  concurrency: intSetting(8, 1),
  /** A job not acknowledged within this time is handed to another worker. */
  ackWaitMs: intSetting(60_000, 1000),
  /** Deadline for one Deliver call to mailbox-store. */
  deliverTimeoutMs: intSetting(60_000, 1000),

  /** The name given in EHLO to remote servers. */
  heloName: z.string().default(hostname()),
  /** Port of remote SMTP servers found through MX records. */
  remoteSmtpPort: portSetting(25),
  /** "domain=host:port,.sub.domain=host:port,*=smarthost:port"; empty = MX lookups. */
  transportMap: z.string().default(''),
  tlsPolicy: z.enum(['none', 'opportunistic', 'required']).default('opportunistic'),
  /** Per-domain TLS policy overrides: "bank.example=required,legacy.example=none". */
  tlsPolicyMap: z.string().default(''),
  timeoutConnectMs: ms(30_000),
  /** RFC 5321 §4.5.3.2: initial 220 greeting, 5 minutes. */
  timeoutGreetingMs: ms(300_000),
  timeoutMailMs: ms(300_000),
  timeoutRcptMs: ms(300_000),
  timeoutDataInitMs: ms(120_000),
  timeoutDataBlockMs: ms(180_000),
  timeoutDataTermMs: ms(600_000),
  maxConnectionsPerDomain: intSetting(10, 1),
  maxConnectionsPerHost: intSetting(20, 1),
  /** Messages per window per domain; 0 = unlimited. */
  maxMessagesPerWindow: intSetting(0, 0),
  rateWindowMs: ms(60_000),
  /** Overrides: "domain=connections/messages,...". */
  domainLimits: z.string().default(''),
  /**
   * Per-domain limits count across all delivery-agent replicas (JetStream KV): connection slots, the
   * message rate, and the back-off of a failing domain. Off: each process keeps its own.
   */
  sharedLimits: boolSetting(true),
  /** A slot whose holder stopped refreshing it (a crash) is free again after this long. */
  slotLeaseMs: intSetting(30_000, 1000),
  /** How long a destination that failed at the connection level is left alone. */
  destinationBackoffMs: intSetting(60_000, 0),
});

export type DeliveryAgentConfig = z.infer<typeof schema>;

export const loadDeliveryAgentConfig = (env: NodeJS.ProcessEnv = process.env): DeliveryAgentConfig =>
  loadConfig(
    schema,
    {
      httpHost: 'DELIVERY_HTTP_HOST',
      httpPort: 'DELIVERY_HTTP_PORT',
      natsUrl: 'NATS_URL',
      mailboxStoreAddress: 'MAILBOX_STORE_ADDRESS',
      concurrency: 'DELIVERY_CONCURRENCY',
      ackWaitMs: 'DELIVERY_ACK_WAIT_MS',
      deliverTimeoutMs: 'DELIVERY_TIMEOUT_MS',
      heloName: 'DELIVERY_HELO_NAME',
      remoteSmtpPort: 'DELIVERY_REMOTE_SMTP_PORT',
      transportMap: 'DELIVERY_TRANSPORT_MAP',
      tlsPolicy: 'DELIVERY_TLS_POLICY',
      tlsPolicyMap: 'DELIVERY_TLS_POLICY_MAP',
      timeoutConnectMs: 'DELIVERY_TIMEOUT_CONNECT_MS',
      timeoutGreetingMs: 'DELIVERY_TIMEOUT_GREETING_MS',
      timeoutMailMs: 'DELIVERY_TIMEOUT_MAIL_MS',
      timeoutRcptMs: 'DELIVERY_TIMEOUT_RCPT_MS',
      timeoutDataInitMs: 'DELIVERY_TIMEOUT_DATA_INIT_MS',
      timeoutDataBlockMs: 'DELIVERY_TIMEOUT_DATA_BLOCK_MS',
      timeoutDataTermMs: 'DELIVERY_TIMEOUT_DATA_TERM_MS',
      maxConnectionsPerDomain: 'DELIVERY_MAX_CONNECTIONS_PER_DOMAIN',
      maxConnectionsPerHost: 'DELIVERY_MAX_CONNECTIONS_PER_HOST',
      maxMessagesPerWindow: 'DELIVERY_MAX_MESSAGES_PER_WINDOW',
      rateWindowMs: 'DELIVERY_RATE_WINDOW_MS',
      domainLimits: 'DELIVERY_DOMAIN_LIMITS',
      destinationBackoffMs: 'DELIVERY_DESTINATION_BACKOFF_MS',
      sharedLimits: 'DELIVERY_SHARED_LIMITS',
      slotLeaseMs: 'DELIVERY_SLOT_LEASE_MS',
    },
    env,
  );

/** "domain=policy,..." to a lookup with the default for unlisted domains. */
export function tlsPolicyLookup(config: DeliveryAgentConfig): (domain: string) => DeliveryAgentConfig['tlsPolicy'] {
  const map = new Map<string, DeliveryAgentConfig['tlsPolicy']>();
  for (const entry of config.tlsPolicyMap.split(',').map((e) => e.trim()).filter(Boolean)) {
    const [domain = '', policy = ''] = entry.split('=');
    if (policy !== 'none' && policy !== 'opportunistic' && policy !== 'required') throw new Error(`TLS policy "${entry}" is not domain=none|opportunistic|required`);
    map.set(domain.toLowerCase(), policy);
  }
  return (domain) => map.get(domain.toLowerCase()) ?? config.tlsPolicy;
}
