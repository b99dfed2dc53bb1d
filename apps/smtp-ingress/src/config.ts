// smtp-ingress settings, from the environment. Every limit is here, with its default and its variable.
import { hostname } from 'node:os';
import { z } from 'zod';
import { boolSetting, durationSetting, gatherSettings, intSetting, loadConfig, loadTlsSettings, optionalPortSetting, parseDnsServers, parsedSetting, portSetting, sizeSetting, SERVICE_HTTP_PORTS } from '@mail/platform';
import { parseAllowList, parseDomainModes } from './auth/policy.js';

const schema = z.object({
  host: z.string().default('127.0.0.1'),
  port: portSetting(2525),
  /** Submission with STARTTLS and AUTH (RFC 6409); 587 in production. "off" disables it. */
  submissionPort: optionalPortSetting(2587),
  /** Submission over implicit TLS (RFC 8314); 465 in production. Needs a certificate. */
  smtpsPort: optionalPortSetting(2465),
  /** AUTH without TLS: only for trusted test setups. */
  allowPlaintextAuth: boolSetting(false),
  /** An authenticated user may only send with its own address as the envelope sender. */
  enforceSenderOwnership: boolSetting(true),
  maxConnectionsPerAddress: intSetting(20, 1),
  /** Expect a PROXY protocol (v1/v2) header from load balancers in proxyTrustedNetworks; off by default. */
  proxyProtocol: boolSetting(false),
  /** Where PROXY headers are believed from, e.g. "10.0.0.0/8"; others are served as direct clients. */
  proxyTrustedNetworks: z.string().default(''),
  /** Messages in one session; beyond it the session is closed with 421. */
  maxMessagesPerConnection: intSetting(100, 1),
  /** Messages per client address per window; 0 = unlimited. Beyond it, MAIL gets 450 4.7.1. */
  maxMessagesPerAddress: intSetting(0, 0),
  /** Accepted recipients in one session; beyond it RCPT gets 452 4.5.3. */
  maxRecipientsPerConnection: intSetting(1000, 1),
  /** Recipients per client address per window; 0 = unlimited. Beyond it RCPT gets 452 4.5.3. */
  maxRecipientsPerAddress: intSetting(0, 0),
  rateWindowMs: durationSetting(60_000, 1000),
  httpHost: z.string().default('127.0.0.1'),
  httpPort: portSetting(SERVICE_HTTP_PORTS['smtp-ingress'].fallback),
  /** The name this server gives in its greeting and Received: headers. */
  serverName: z.string().default(hostname()),
  natsUrl: z.string().default('nats://127.0.0.1:4222'),
  mailboxStoreAddress: z.string().default('127.0.0.1:50051'),

  maxMessageBytes: sizeSetting(25 * 1024 * 1024, 1024),
  /** RFC 5321 §4.5.3.1.8 requires at least 100. */
  maxRecipients: intSetting(100, 1),
  /** Longest command line, CRLF included (RFC 5321 §4.5.3.1.4 minimum is 512). */
  maxCommandLineBytes: sizeSetting(2048, 512),
  maxConnections: intSetting(1000, 1),
  /**
   * Percentage of maxConnections kept for client addresses that hold no connection yet: once only these
   * are free, an address that already has one is refused, so a few addresses cannot take every slot.
   */
  reservedConnectionsPercent: z.coerce.number().int().min(0).max(100).default(10),
  /** Replies of class 5 in one session before it is closed with 421. */
  maxErrors: intSetting(20, 1),
  /** RFC 5321 §4.5.3.2.7: at least 5 minutes waiting for a command. */
  commandTimeoutMs: durationSetting(300_000, 1),
  /** RFC 5321 §4.5.3.2.6: at least 3 minutes between data blocks. */
  dataTimeoutMs: durationSetting(180_000, 1),
  /**
   * A command line must be complete this long after its first byte arrived (the idle timeout above is per
   * read, so a client trickling a byte at a time would otherwise never time out).
   */
  commandDeadlineMs: durationSetting(60_000, 1),
  /**
   * DATA must arrive at this many bytes per second on average once its first dataTimeoutMs have passed
   * (every byte received earns 1/rate s more); 0 = no deadline for the whole DATA section.
   */
  minDataRate: intSetting(500, 0),
  /**
   * Deadline for what comes before the first reply: the PROXY header and the implicit TLS handshake (the
   * connection holds its slot meanwhile), and for the STARTTLS handshake.
   */
  tlsHandshakeTimeoutMs: durationSetting(10_000, 1),
  /** More Received: headers than this is taken for a mail loop and refused with 554 5.4.6. */
  maxReceivedHeaders: intSetting(100, 1),
  /** Networks whose clients may relay without AUTH, e.g. "10.0.0.0/8,192.0.2.7/32,::1/128"; empty = none. */
  relayNetworks: z.string().default(''),
  bareLineEndings: z.enum(['reject', 'normalize']).default('reject'),
  /** On SIGTERM: how long sessions in a transaction may take to finish before they are cut. */
  shutdownGraceMs: durationSetting(20_000, 0),
  /** Deadline for the recipient lookup and for making a message durable. */
  backendTimeoutMs: durationSetting(15_000, 1),
  /**
   * How long a recipient found to exist is believed without asking mailbox-store again; 0 = ask every
   * time. Unknown recipients are always asked. A mailbox removed within this time may still get a 250,
   * and its mail then comes back as a bounce from delivery.
   */
  recipientCacheMs: durationSetting(10_000, 0),

  /** Check SPF, DKIM, ARC and DMARC of mail from unauthenticated clients and add Authentication-Results. */
  authChecks: boolSetting(true),
  /** The authserv-id of our Authentication-Results header (RFC 8601); empty = serverName. */
  authservId: z.string().default(''),
  /** `mark`: accept every message and mark it; `enforce`: a DMARC failure under p=reject is refused (550 5.7.1), under p=quarantine deferred (451 4.7.1). */
  authPolicy: z.enum(['mark', 'enforce']).default('mark'),
  /** The mode per author (From:) domain: "example.com=enforce,.example.org=mark" (a leading dot: its subdomains). */
  authPolicyMap: parsedSetting('', parseDomainModes),
  /** Under `enforce`, when a temporary DNS failure leaves DMARC unknown: `accept` (and mark) or `defer` (451 4.7.1). */
  authOnTemporaryFailure: z.enum(['accept', 'defer']).default('accept'),
  /** Never refused for authentication (still marked): client networks, and MAIL FROM domains that SPF authorised. */
  authAllow: parsedSetting('', parseAllowList),
  /** How long the checks may take after the end of DATA; what is not done by then is a temperror. */
  authTimeoutMs: durationSetting(20_000, 1),
  /** DNS servers for the checks, "127.0.0.1:5353,[::1]:53"; empty = the system's resolver. */
  dnsServers: parsedSetting('', parseDnsServers),
  /** Deadline of one DNS query, retries included; a server that does not answer makes a temperror. */
  dnsTimeoutMs: durationSetting(5_000, 1),
  /** How long a DNS answer of the checks is reused (SPF, DMARC and DKIM ask the same per sender domain); 0 = no cache. */
  dnsCacheMs: durationSetting(60_000, 0),
});

export type SmtpIngressConfig = z.infer<typeof schema> & {
  tls: ReturnType<typeof loadTlsSettings>;
};

export function loadSmtpIngressConfig(env: NodeJS.ProcessEnv = process.env): SmtpIngressConfig {
  const { listeners, tls } = gatherSettings({ listeners: () => loadListenerConfig(env), tls: () => loadTlsSettings(env) });
  return { ...listeners, tls };
}

const loadListenerConfig = (env: NodeJS.ProcessEnv) =>
  loadConfig(
    schema,
    {
      host: 'SMTP_HOST',
      port: 'SMTP_PORT',
      submissionPort: 'SMTP_SUBMISSION_PORT',
      smtpsPort: 'SMTPS_PORT',
      allowPlaintextAuth: 'SMTP_ALLOW_PLAINTEXT_AUTH',
      enforceSenderOwnership: 'SMTP_ENFORCE_SENDER_OWNERSHIP',
      maxConnectionsPerAddress: 'SMTP_MAX_CONNECTIONS_PER_ADDRESS',
      proxyProtocol: 'PROXY_PROTOCOL',
      proxyTrustedNetworks: 'PROXY_TRUSTED_NETWORKS',
      maxMessagesPerConnection: 'SMTP_MAX_MESSAGES_PER_CONNECTION',
      maxMessagesPerAddress: 'SMTP_MAX_MESSAGES_PER_ADDRESS',
      maxRecipientsPerConnection: 'SMTP_MAX_RECIPIENTS_PER_CONNECTION',
      maxRecipientsPerAddress: 'SMTP_MAX_RECIPIENTS_PER_ADDRESS',
      rateWindowMs: 'SMTP_RATE_WINDOW_MS',
      httpHost: 'SMTP_HTTP_HOST',
      httpPort: 'SMTP_HTTP_PORT',
      serverName: 'SMTP_SERVER_NAME',
      natsUrl: 'NATS_URL',
      mailboxStoreAddress: 'MAILBOX_STORE_ADDRESS',
      maxMessageBytes: 'MAX_MESSAGE_BYTES',
      maxRecipients: 'SMTP_MAX_RECIPIENTS',
      maxCommandLineBytes: 'SMTP_MAX_COMMAND_LINE_BYTES',
      maxConnections: 'SMTP_MAX_CONNECTIONS',
      reservedConnectionsPercent: 'SMTP_RESERVED_CONNECTIONS_PERCENT',
      maxErrors: 'SMTP_MAX_ERRORS',
      commandTimeoutMs: 'SMTP_COMMAND_TIMEOUT_MS',
      dataTimeoutMs: 'SMTP_DATA_TIMEOUT_MS',
      tlsHandshakeTimeoutMs: 'SMTP_TLS_HANDSHAKE_TIMEOUT_MS',
      commandDeadlineMs: 'SMTP_COMMAND_DEADLINE_MS',
      minDataRate: 'SMTP_MIN_DATA_RATE',
      bareLineEndings: 'SMTP_BARE_LINE_ENDINGS',
      relayNetworks: 'SMTP_RELAY_NETWORKS',
      maxReceivedHeaders: 'SMTP_MAX_RECEIVED_HEADERS',
      backendTimeoutMs: 'SMTP_BACKEND_TIMEOUT_MS',
      recipientCacheMs: 'SMTP_RECIPIENT_CACHE_MS',
      shutdownGraceMs: 'SMTP_SHUTDOWN_GRACE_MS',
      authChecks: 'SMTP_AUTH_CHECKS',
      authservId: 'SMTP_AUTHSERV_ID',
      authPolicy: 'SMTP_AUTH_POLICY',
      authPolicyMap: 'SMTP_AUTH_POLICY_MAP',
      authOnTemporaryFailure: 'SMTP_AUTH_TEMPERROR',
      authAllow: 'SMTP_AUTH_ALLOW',
      authTimeoutMs: 'SMTP_AUTH_TIMEOUT_MS',
      dnsServers: 'DNS_SERVERS',
      dnsTimeoutMs: 'DNS_TIMEOUT_MS',
      dnsCacheMs: 'DNS_CACHE_MS',
    },
    env,
  );
