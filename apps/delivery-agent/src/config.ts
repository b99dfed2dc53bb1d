// delivery-agent settings, from the environment.
import { hostname } from 'node:os';
import { z } from 'zod';
import { boolSetting, durationSetting, intSetting, loadConfig, portSetting, SERVICE_HTTP_PORTS } from '@mail/platform';

const ms = (fallback: number) => durationSetting(fallback, 1);

const schema = z.object({
  httpHost: z.string().default('127.0.0.1'),
  httpPort: portSetting(SERVICE_HTTP_PORTS['delivery-agent'].fallback),
  natsUrl: z.string().default('nats://127.0.0.1:4222'),
  mailboxStoreAddress: z.string().default('127.0.0.1:50051'),
  /**
   * Remote delivery jobs worked on at once by one process. queue-manager admits per destination; this
   * is how many slow servers one process can wait on at once before healthy ones wait behind them.
   */
  concurrency: intSetting(32, 1),
  /** Local delivery jobs (to mailbox-store) worked on at once by one process: a lane of their own. */
  localConcurrency: intSetting(16, 1),
  /** A job not acknowledged within this time is handed to another worker. */
  ackWaitMs: durationSetting(60_000, 1000),
  /** Deadline for one Deliver call to mailbox-store. */
  deliverTimeoutMs: durationSetting(60_000, 1000),

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
  /** Connections at once to one MX host (which several domains may share). */
  maxConnectionsPerHost: intSetting(20, 1),
  /** The back-off of a failing domain holds for all delivery-agent replicas (JetStream KV); off: per process. */
  sharedLimits: boolSetting(true),
  /** How long a destination that failed at the connection level is left alone. */
  destinationBackoffMs: durationSetting(60_000, 0),
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
      localConcurrency: 'DELIVERY_LOCAL_CONCURRENCY',
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
      maxConnectionsPerHost: 'DELIVERY_MAX_CONNECTIONS_PER_HOST',
      destinationBackoffMs: 'DELIVERY_DESTINATION_BACKOFF_MS',
      sharedLimits: 'DELIVERY_SHARED_LIMITS',
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
