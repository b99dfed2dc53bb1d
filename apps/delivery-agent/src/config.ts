// delivery-agent settings, from the environment.
import { hostname } from 'node:os';
import { z } from 'zod';
import { boolSetting, durationSetting, parseDnsServers, parsedSetting, sizeSetting, GRPC_TLS_SETTINGS, intSetting, LOG_SETTINGS, MAILBOX_STORE_ADDRESS_SETTING, NATS_SETTINGS, NATS_URL_SETTING, portSetting, httpListenerSettings, setting, settingGroup } from '@mail/platform';

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
  ledgerClaimMs: setting(
    'DELIVERY_LEDGER_CLAIM',
    durationSetting(120_000, 1000),
    'how long a remote attempt\'s claim on its recipients outlives its last renewal (renewed every third of it while the attempt runs): after a delivery-agent dies mid-attempt, its recipients wait this long before another attempt takes them over',
  ),
  ledgerKeepMs: setting(
    'DELIVERY_LEDGER_KEEP',
    durationSetting(2 * 24 * 3_600_000, 60_000),
    'how long the delivery ledger remembers that a remote server answered a recipient for good, so that the message handed out again (a queue-manager takeover, a redelivered batch) is not sent twice; longer than any message stays queued after such a repeat',
  ),
  destinationBackoffMs: setting('DELIVERY_DESTINATION_BACKOFF_MS', durationSetting(60_000, 0), 'how long a destination that failed at the connection level is left alone'),

  dnsServers: setting('DNS_SERVERS', parsedSetting('', parseDnsServers), 'DNS servers of MX, MTA-STS and TLS-RPT lookups and of MX host addresses (`127.0.0.1:5353,[::1]:53`); empty = the system\'s resolver'),
  dnsTimeoutMs: setting('DNS_TIMEOUT_MS', durationSetting(5_000, 1), 'deadline of one DNS query, retries included; a server that does not answer is a temporary failure'),
  dnsCacheMs: setting('DNS_CACHE_MS', durationSetting(60_000, 0), 'how long a DNS answer (or a name\'s non-existence) is reused; timeouts and server failures are not kept; 0 = no cache'),
  mtaSts: setting('DELIVERY_MTA_STS', boolSetting(true), 'MTA-STS (RFC 8461): fetch, cache and apply the recipient domain\'s policy to MX deliveries (not to transport-map routes)'),
  mtaStsFetchTimeoutMs: setting('DELIVERY_MTA_STS_FETCH_TIMEOUT_MS', durationSetting(10_000, 1), 'deadline of one MTA-STS policy fetch (DNS, connect, TLS and body)'),
  mtaStsHttpsPort: setting('DELIVERY_MTA_STS_HTTPS_PORT', portSetting(443), 'HTTPS port of `mta-sts.<domain>` policy fetches (443; tests use a loopback port)'),
  mtaStsRetryFailedMs: setting('DELIVERY_MTA_STS_RETRY_FAILED_MS', durationSetting(300_000, 0), 'after a failed policy fetch (and no cached policy), the domain is treated as having none for this long before the next fetch, unless its TXT id changes; 0 = fetch for every delivery'),
  mtaStsMaxPolicyBytes: setting('DELIVERY_MTA_STS_MAX_POLICY_BYTES', sizeSetting(64 * 1024, 256, 1024 * 1024), 'largest MTA-STS policy file accepted; a larger one is a fetch error'),
  tlsRptSendIntervalMs: setting('DELIVERY_TLSRPT_SEND_INTERVAL_MS', durationSetting(3_600_000, 0), 'how often finished days\' TLS-RPT reports are looked for, queued to the domains\' `mailto:` rua and posted to their `https:` rua (RFC 8460 §5.3); a failed post is tried again after one interval, then after twice as long each time, for 24 hours (§5.5); 0 = never sent'),
  tlsRptPostTimeoutMs: setting('DELIVERY_TLSRPT_POST_TIMEOUT_MS', durationSetting(30_000, 1), 'deadline of one TLS-RPT report post to an `https:` rua (DNS, connect, TLS, sending, the answer)'),
  tlsRptFrom: setting('DELIVERY_TLSRPT_FROM', z.string().default(''), 'From and envelope sender of TLS-RPT reports; empty = `postmaster@` the HELO name', 'postmaster@DELIVERY_HELO_NAME'),
  tlsExtraCaFile: setting('DELIVERY_TLS_EXTRA_CA_FILE', z.string().default(''), 'PEM file of CA certificates trusted beside the system\'s, for MX certificates (MTA-STS, REQUIRETLS, `required`), policy fetches and TLS-RPT report posts; empty = none'),
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
