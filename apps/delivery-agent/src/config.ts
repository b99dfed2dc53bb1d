// delivery-agent settings, from the environment.
import { hostname } from 'node:os';
import { z } from 'zod';
import { boolSetting, durationSetting, GRPC_TLS_SETTINGS, intSetting, LOG_SETTINGS, MAILBOX_STORE_ADDRESS_SETTING, NATS_SETTINGS, NATS_URL_SETTING, portSetting, httpListenerSettings, setting, settingGroup } from '@mail/platform';

const ms = (fallback: number) => durationSetting(fallback, 1);

/** delivery-agent's settings. */
export const DELIVERY_AGENT_SETTINGS = settingGroup('delivery-agent', {
  ...httpListenerSettings('delivery-agent'),
  natsUrl: NATS_URL_SETTING,
  mailboxStoreAddress: MAILBOX_STORE_ADDRESS_SETTING,
  concurrency: setting(
    'DELIVERY_CONCURRENCY',
    intSetting(32, 1),
    'remote delivery jobs one process works on at once (queue-manager admits per destination; this is how many slow servers one process can wait on before healthy ones wait behind them)',
  ),
  localConcurrency: setting('DELIVERY_LOCAL_CONCURRENCY', intSetting(16, 1), 'local delivery jobs (to mailbox-store) one process works on at once: a lane of their own'),
  ackWaitMs: setting('DELIVERY_ACK_WAIT_MS', durationSetting(60_000, 1000), 'a job not acknowledged within this time is handed to another worker'),
  deliverTimeoutMs: setting('DELIVERY_TIMEOUT_MS', durationSetting(60_000, 1000), 'deadline for one Deliver call to mailbox-store'),

  heloName: setting('DELIVERY_HELO_NAME', z.string().default(hostname()), 'the name given in EHLO to remote servers', 'host name'),
  remoteSmtpPort: setting('DELIVERY_REMOTE_SMTP_PORT', portSetting(25), 'port of remote SMTP servers found through MX records'),
  transportMap: setting('DELIVERY_TRANSPORT_MAP', z.string().default(''), '`domain=host:port,.sub=host:port,*=smarthost:port`; empty = MX lookups'),
  tlsPolicy: setting('DELIVERY_TLS_POLICY', z.enum(['none', 'opportunistic', 'required']).default('opportunistic'), 'outbound STARTTLS: `none`, `opportunistic` or `required`'),
  chunking: setting('DELIVERY_CHUNKING', boolSetting(true), 'send with BDAT (RFC 3030) to servers that offer CHUNKING; `false`: always DATA'),
  tlsPolicyMap: setting('DELIVERY_TLS_POLICY_MAP', z.string().default(''), 'per-domain TLS policy: `bank.example=required,legacy.example=none`'),
  timeoutConnectMs: setting('DELIVERY_TIMEOUT_CONNECT_MS', ms(30_000), 'connecting to a remote server'),
  timeoutGreetingMs: setting('DELIVERY_TIMEOUT_GREETING_MS', ms(300_000), 'its 220 greeting (RFC 5321 §4.5.3.2: 5 minutes)'),
  timeoutMailMs: setting('DELIVERY_TIMEOUT_MAIL_MS', ms(300_000), 'the reply to MAIL'),
  timeoutRcptMs: setting('DELIVERY_TIMEOUT_RCPT_MS', ms(300_000), 'the reply to RCPT'),
  timeoutDataInitMs: setting('DELIVERY_TIMEOUT_DATA_INIT_MS', ms(120_000), 'the reply to DATA'),
  timeoutDataBlockMs: setting('DELIVERY_TIMEOUT_DATA_BLOCK_MS', ms(180_000), 'sending one data block'),
  timeoutDataTermMs: setting('DELIVERY_TIMEOUT_DATA_TERM_MS', ms(600_000), 'the reply to the end of DATA'),
  maxConnectionsPerHost: setting('DELIVERY_MAX_CONNECTIONS_PER_HOST', intSetting(20, 1), 'connections at once to one MX host (which several domains may share), per process'),
  sharedLimits: setting('DELIVERY_SHARED_LIMITS', boolSetting(true), 'the back-off of a failing domain holds for all delivery-agent replicas (JetStream KV); `false`: per process'),
  destinationBackoffMs: setting('DELIVERY_DESTINATION_BACKOFF_MS', durationSetting(60_000, 0), 'how long a destination that failed at the connection level is left alone'),
});

/** Every group of settings delivery-agent reads, for the manifest. */
export const DELIVERY_AGENT_SETTING_GROUPS = [DELIVERY_AGENT_SETTINGS, NATS_SETTINGS, GRPC_TLS_SETTINGS, LOG_SETTINGS];

export type DeliveryAgentConfig = ReturnType<typeof DELIVERY_AGENT_SETTINGS.load>;

export const loadDeliveryAgentConfig = (env: NodeJS.ProcessEnv = process.env): DeliveryAgentConfig => DELIVERY_AGENT_SETTINGS.load(env);

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
