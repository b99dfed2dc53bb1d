// smtp-ingress settings, from the environment. Every limit is here, with its default and its variable.
import { hostname } from 'node:os';
import { z } from 'zod';
import {
  boolSetting,
  durationSetting,
  connectionLimitSettings,
  gatherSettings,
  GRPC_TLS_SETTINGS,
  intSetting,
  loadTlsSettings,
  LOG_SETTINGS,
  MAILBOX_STORE_ADDRESS_SETTING,
  NATS_SETTINGS,
  NATS_URL_SETTING,
  optionalPortSetting,
  parseDnsServers,
  parsedSetting,
  portSetting,
  PROXY_PROTOCOL_SETTING,
  PROXY_TRUSTED_NETWORKS_SETTING,
  httpListenerSettings,
  setting,
  settingGroup,
  sizeSetting,
  TLS_SETTINGS,
} from '@mail/platform';
import { parseAllowList, parseDomainModes } from './auth/policy.js';

/** smtp-ingress's own settings. */
export const SMTP_INGRESS_SETTINGS = settingGroup('smtp-ingress', {
  host: setting('SMTP_HOST', z.string().default('127.0.0.1'), 'address of the mail listeners'),
  port: setting('SMTP_PORT', portSetting(2525), 'SMTP listener (MX)'),
  submissionPort: setting('SMTP_SUBMISSION_PORT', optionalPortSetting(2587), 'submission with STARTTLS and AUTH (RFC 6409); 587 in production; `off` disables it'),
  smtpsPort: setting('SMTPS_PORT', optionalPortSetting(2465), 'submission over implicit TLS (RFC 8314); 465 in production; needs a certificate; `off` disables it'),
  allowPlaintextAuth: setting('SMTP_ALLOW_PLAINTEXT_AUTH', boolSetting(false), 'allow AUTH before TLS (only for trusted test setups)'),
  enforceSenderOwnership: setting('SMTP_ENFORCE_SENDER_OWNERSHIP', boolSetting(true), 'an authenticated user may only send with its own address as the envelope sender'),
  proxyProtocol: PROXY_PROTOCOL_SETTING,
  proxyTrustedNetworks: PROXY_TRUSTED_NETWORKS_SETTING,
  maxMessagesPerConnection: setting('SMTP_MAX_MESSAGES_PER_CONNECTION', intSetting(100, 1), 'messages in one session; beyond it the session is closed with `421`'),
  maxMessagesPerAddress: setting('SMTP_MAX_MESSAGES_PER_ADDRESS', intSetting(0, 0), 'messages per client address per `SMTP_RATE_WINDOW_MS`; 0 = unlimited; beyond it, MAIL gets `450 4.7.1`'),
  maxRecipientsPerConnection: setting('SMTP_MAX_RECIPIENTS_PER_CONNECTION', intSetting(1000, 1), 'accepted recipients in one session; beyond it RCPT gets `452 4.5.3`'),
  maxRecipientsPerAddress: setting('SMTP_MAX_RECIPIENTS_PER_ADDRESS', intSetting(0, 0), 'recipients per client address per `SMTP_RATE_WINDOW_MS`; 0 = unlimited; beyond it RCPT gets `452 4.5.3`'),
  rateWindowMs: setting('SMTP_RATE_WINDOW_MS', durationSetting(60_000, 1000), 'the window of the per-address limits'),
  ...httpListenerSettings('smtp-ingress'),
  serverName: setting('SMTP_SERVER_NAME', z.string().default(hostname()), 'the name in the greeting and `Received:` headers', 'host name'),
  natsUrl: NATS_URL_SETTING,
  mailboxStoreAddress: MAILBOX_STORE_ADDRESS_SETTING,

  maxMessageBytes: setting('MAX_MESSAGE_BYTES', sizeSetting(25 * 1024 * 1024, 1024), 'largest message (advertised as `SIZE`)'),
  maxRecipients: setting(
    'SMTP_MAX_RECIPIENTS',
    intSetting(100, 1),
    'recipients per message (`452 4.5.3` beyond; RFC 5321 §4.5.3.1.8 requires at least 100); a repeated `RCPT` of a recipient already accepted counts too, and is answered from the envelope without a lookup',
  ),
  maxCommandLineBytes: setting('SMTP_MAX_COMMAND_LINE_BYTES', sizeSetting(2048, 512), 'longest command line, CRLF included (`500 5.5.2` beyond; RFC 5321 §4.5.3.1.4 minimum is 512)'),
  ...connectionLimitSettings('SMTP'),
  maxErrors: setting('SMTP_MAX_ERRORS', intSetting(20, 1), 'replies of class 5 in one session before `421` and close'),
  commandTimeoutMs: setting('SMTP_COMMAND_TIMEOUT_MS', durationSetting(300_000, 1), 'waiting for a command (RFC 5321 §4.5.3.2.7: at least 5 minutes)'),
  dataTimeoutMs: setting('SMTP_DATA_TIMEOUT_MS', durationSetting(180_000, 1), 'between data blocks (RFC 5321 §4.5.3.2.6: at least 3 minutes)'),
  commandDeadlineMs: setting(
    'SMTP_COMMAND_DEADLINE_MS',
    durationSetting(60_000, 1),
    'a command line must be whole this long after its first byte (the timeouts are per read; this drops clients trickling a byte at a time with `421 4.4.2`); an over-long line being dropped earns a new deadline with every `SMTP_MAX_COMMAND_LINE_BYTES`',
  ),
  minDataRate: setting(
    'SMTP_MIN_DATA_RATE',
    intSetting(500, 0),
    'bytes per second a DATA section must average once its first `SMTP_DATA_TIMEOUT_MS` have passed (each byte earns 1/rate s); 0 = no deadline for the whole DATA',
  ),
  tlsHandshakeTimeoutMs: setting(
    'SMTP_TLS_HANDSHAKE_TIMEOUT_MS',
    durationSetting(10_000, 1),
    'deadline for the PROXY header and implicit TLS handshake (the connection holds its slot meanwhile), and for the STARTTLS handshake; a client that closes before its handshake is let go at once',
  ),
  maxReceivedHeaders: setting('SMTP_MAX_RECEIVED_HEADERS', intSetting(100, 1), 'more `Received:` headers than this is taken for a mail loop: `554 5.4.6`'),
  relayNetworks: setting('SMTP_RELAY_NETWORKS', z.string().default(''), 'networks whose clients may relay without AUTH, e.g. `10.0.0.0/8,192.0.2.7/32,::1/128`; empty = none'),
  bareLineEndings: setting('SMTP_BARE_LINE_ENDINGS', z.enum(['reject', 'normalize']).default('reject'), 'bare CR/LF in DATA: `reject` (550 5.5.2) or `normalize` to CRLF'),
  shutdownGraceMs: setting('SMTP_SHUTDOWN_GRACE_MS', durationSetting(20_000, 0), 'on SIGTERM: how long sessions in a transaction may take to finish before they are cut'),
  backendTimeoutMs: setting('SMTP_BACKEND_TIMEOUT_MS', durationSetting(15_000, 1), 'deadline for the recipient lookup and for making a message durable'),
  recipientCacheMs: setting(
    'SMTP_RECIPIENT_CACHE_MS',
    durationSetting(10_000, 0),
    'how long a recipient found to exist is believed without asking mailbox-store again (0 = always ask; unknown recipients are always asked; mail to a mailbox removed meanwhile bounces at delivery)',
  ),

  authChecks: setting(
    'SMTP_AUTH_CHECKS',
    boolSetting(true),
    'check SPF (MAIL FROM and HELO), DKIM (RSA, Ed25519), ARC and DMARC of mail from unauthenticated clients (authenticated submission is not checked), with the `mailauth` library; the result is one `Authentication-Results:` header (RFC 8601) under our `Received:`, and any arriving that claims our authserv-id is removed first. The body is hashed as DATA streams in',
  ),
  authservId: setting('SMTP_AUTHSERV_ID', z.string().default(''), 'the authserv-id of our `Authentication-Results:` header; empty = `SMTP_SERVER_NAME`'),
  authPolicy: setting(
    'SMTP_AUTH_POLICY',
    z.enum(['mark', 'enforce']).default('mark'),
    '`mark`: accept every message and mark it; `enforce`: a DMARC failure of an author (From:) domain publishing `p=reject` is refused `550 5.7.1`, `p=quarantine` deferred `451 4.7.1`',
  ),
  authPolicyMap: setting('SMTP_AUTH_POLICY_MAP', parsedSetting('', parseDomainModes), 'the mode per author domain: `bank.example=enforce,.corp.example=mark` (a leading dot: its subdomains)'),
  authOnTemporaryFailure: setting(
    'SMTP_AUTH_TEMPERROR',
    z.enum(['accept', 'defer']).default('accept'),
    'under `enforce`, when a DNS failure leaves DMARC unknown (a fail with an SPF or DKIM temperror counts as unknown): `accept` and mark `temperror`, or `defer` (`451 4.7.1`). A DNS outage is never a refusal',
  ),
  authAllow: setting(
    'SMTP_AUTH_ALLOW',
    parsedSetting('', parseAllowList),
    'never refused for authentication (still marked): client networks (`192.0.2.0/24`) and MAIL FROM domains, the latter only when SPF passed for them (forwarders, mailing lists)',
  ),
  authTimeoutMs: setting('SMTP_AUTH_TIMEOUT_MS', durationSetting(20_000, 1), 'how long the checks may take after the end of DATA; whatever is unfinished is `temperror`'),
  dnsServers: setting('DNS_SERVERS', parsedSetting('', parseDnsServers), 'DNS servers of those checks (`127.0.0.1:5353,[::1]:53`); empty = the system\'s resolver'),
  dnsTimeoutMs: setting('DNS_TIMEOUT_MS', durationSetting(5_000, 1), 'deadline of one DNS query, retries included; a server that does not answer makes a temperror'),
  dnsCacheMs: setting(
    'DNS_CACHE_MS',
    durationSetting(60_000, 0),
    'how long an answer of those checks (or a name\'s non-existence) is reused, shared by the questions asked meanwhile; timeouts and server failures are not kept; 0 = no cache',
  ),
});

/** Every group of settings smtp-ingress reads, for the manifest. */
export const SMTP_INGRESS_SETTING_GROUPS = [SMTP_INGRESS_SETTINGS, TLS_SETTINGS, NATS_SETTINGS, GRPC_TLS_SETTINGS, LOG_SETTINGS];

export type SmtpIngressConfig = ReturnType<typeof SMTP_INGRESS_SETTINGS.load> & {
  tls: ReturnType<typeof loadTlsSettings>;
};

export function loadSmtpIngressConfig(env: NodeJS.ProcessEnv = process.env): SmtpIngressConfig {
  const { listeners, tls } = gatherSettings({ listeners: () => SMTP_INGRESS_SETTINGS.load(env), tls: () => loadTlsSettings(env) });
  return { ...listeners, tls };
}
