// pop3-access settings, from the environment.
import { hostname } from 'node:os';
import { z } from 'zod';
import { boolSetting, durationSetting, gatherSettings, intSetting, loadConfig, loadTlsSettings, optionalPortSetting, portSetting, sizeSetting, SERVICE_HTTP_PORTS } from '@mail/platform';

const schema = z.object({
  host: z.string().default('127.0.0.1'),
  port: portSetting(1110),
  /** POP3 over implicit TLS (RFC 8314); 995 in production. Needs a certificate. */
  tlsPort: optionalPortSetting(1995),
  /** USER/PASS and AUTH PLAIN before TLS: refused unless set (RFC 2595 §2). */
  allowPlaintextAuth: boolSetting(false),
  maxConnectionsPerAddress: intSetting(20, 1),
  /** Expect a PROXY protocol (v1/v2) header from load balancers in proxyTrustedNetworks; off by default. */
  proxyProtocol: boolSetting(false),
  /** Where PROXY headers are believed from, e.g. "10.0.0.0/8"; others are served as direct clients. */
  proxyTrustedNetworks: z.string().default(''),
  httpHost: z.string().default('127.0.0.1'),
  httpPort: portSetting(SERVICE_HTTP_PORTS['pop3-access'].fallback),
  serverName: z.string().default(hostname()),
  mailboxStoreAddress: z.string().default('127.0.0.1:50051'),
  maxConnections: intSetting(1000, 1),
  /**
   * Percentage of maxConnections kept for client addresses that hold no connection yet: once only these
   * are free, an address that already has one is refused, so a few addresses cannot take every slot.
   */
  reservedConnectionsPercent: z.coerce.number().int().min(0).max(100).default(10),
  /** RFC 2449 §4: command lines up to 255 octets; we allow a little more for long user names. */
  maxCommandLineBytes: sizeSetting(1024, 255),
  /** RFC 1939 §3: the autologout timer must be at least 10 minutes. */
  idleTimeoutMs: durationSetting(600_000, 1),
  /**
   * A command line must be complete this long after its first byte arrived (the autologout timer is per
   * read, so a client trickling a byte at a time would otherwise never be logged out).
   */
  commandDeadlineMs: durationSetting(60_000, 1),
  /**
   * Deadline for what comes before the greeting: the PROXY header and the implicit TLS handshake (the
   * connection holds its slot meanwhile), and for the STLS handshake.
   */
  tlsHandshakeTimeoutMs: durationSetting(10_000, 1),
  maxAuthFailures: intSetting(3, 1),
  /** How long a maildrop lock lives without renewal (renewed while the session is open). */
  leaseSeconds: intSetting(120, 30),
  backendTimeoutMs: durationSetting(15_000, 1),
  /**
   * Bytes of the next small messages fetched from mailbox-store in one call while a client RETRs in order
   * (about twice this is held per session at most); 0 fetches every message on its own. At most 2 MiB:
   * mailbox-store answers about 3 MiB per call, so more would only hold more memory per session.
   */
  readAheadBytes: sizeSetting(1024 * 1024, 0, 2 * 1024 * 1024),
});

export type Pop3Config = z.infer<typeof schema> & {
  tls: ReturnType<typeof loadTlsSettings>;
};

export function loadPop3Config(env: NodeJS.ProcessEnv = process.env): Pop3Config {
  const { listeners, tls } = gatherSettings({ listeners: () => loadListenerConfig(env), tls: () => loadTlsSettings(env) });
  return { ...listeners, tls };
}

const loadListenerConfig = (env: NodeJS.ProcessEnv) =>
  loadConfig(
    schema,
    {
      host: 'POP3_HOST',
      port: 'POP3_PORT',
      tlsPort: 'POP3S_PORT',
      allowPlaintextAuth: 'POP3_ALLOW_PLAINTEXT_AUTH',
      maxConnectionsPerAddress: 'POP3_MAX_CONNECTIONS_PER_ADDRESS',
      proxyProtocol: 'PROXY_PROTOCOL',
      proxyTrustedNetworks: 'PROXY_TRUSTED_NETWORKS',
      httpHost: 'POP3_HTTP_HOST',
      httpPort: 'POP3_HTTP_PORT',
      serverName: 'POP3_SERVER_NAME',
      mailboxStoreAddress: 'MAILBOX_STORE_ADDRESS',
      maxConnections: 'POP3_MAX_CONNECTIONS',
      reservedConnectionsPercent: 'POP3_RESERVED_CONNECTIONS_PERCENT',
      maxCommandLineBytes: 'POP3_MAX_COMMAND_LINE_BYTES',
      idleTimeoutMs: 'POP3_IDLE_TIMEOUT_MS',
      tlsHandshakeTimeoutMs: 'POP3_TLS_HANDSHAKE_TIMEOUT_MS',
      commandDeadlineMs: 'POP3_COMMAND_DEADLINE_MS',
      maxAuthFailures: 'POP3_MAX_AUTH_FAILURES',
      leaseSeconds: 'POP3_LEASE_SECONDS',
      backendTimeoutMs: 'POP3_BACKEND_TIMEOUT_MS',
      readAheadBytes: 'POP3_READ_AHEAD_BYTES',
    },
    env,
  );
