// pop3-access settings, from the environment.
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
  optionalPortSetting,
  portSetting,
  PROXY_PROTOCOL_SETTING,
  PROXY_TRUSTED_NETWORKS_SETTING,
  httpListenerSettings,
  setting,
  settingGroup,
  sizeSetting,
  TLS_SETTINGS,
} from '@mail/platform';

/** pop3-access's own settings. */
export const POP3_ACCESS_SETTINGS = settingGroup('pop3-access', {
  host: setting('POP3_HOST', z.string().default('127.0.0.1'), 'address of the POP3 listeners'),
  port: setting('POP3_PORT', portSetting(1110), 'POP3 listener (STLS offered)'),
  tlsPort: setting('POP3S_PORT', optionalPortSetting(1995), 'POP3 over implicit TLS (RFC 8314); 995 in production; needs a certificate; `off` disables it'),
  allowPlaintextAuth: setting('POP3_ALLOW_PLAINTEXT_AUTH', boolSetting(false), 'USER/PASS and AUTH PLAIN before TLS (RFC 2595 §2: refused unless set; only for trusted setups)'),
  proxyProtocol: PROXY_PROTOCOL_SETTING,
  proxyTrustedNetworks: PROXY_TRUSTED_NETWORKS_SETTING,
  ...httpListenerSettings('pop3-access'),
  serverName: setting('POP3_SERVER_NAME', z.string().default(hostname()), 'the name in the greeting', 'host name'),
  mailboxStoreAddress: MAILBOX_STORE_ADDRESS_SETTING,
  ...connectionLimitSettings('POP3'),
  maxCommandLineBytes: setting('POP3_MAX_COMMAND_LINE_BYTES', sizeSetting(1024, 255), 'longest command line (RFC 2449 §4: up to 255 octets; a little more for long user names)'),
  idleTimeoutMs: setting('POP3_IDLE_TIMEOUT_MS', durationSetting(600_000, 1), 'autologout (RFC 1939 §3: at least 10 minutes)'),
  commandDeadlineMs: setting(
    'POP3_COMMAND_DEADLINE_MS',
    durationSetting(60_000, 1),
    'a command line must be whole this long after its first byte (the autologout timer is per read; this drops clients trickling a byte at a time with `-ERR`)',
  ),
  tlsHandshakeTimeoutMs: setting(
    'POP3_TLS_HANDSHAKE_TIMEOUT_MS',
    durationSetting(10_000, 1),
    'deadline for the PROXY header and implicit TLS handshake (the connection holds its slot meanwhile), and for the STLS handshake',
  ),
  maxAuthFailures: setting('POP3_MAX_AUTH_FAILURES', intSetting(3, 1), 'failed logins before the connection is closed'),
  leaseSeconds: setting('POP3_LEASE_SECONDS', intSetting(120, 30), 'how long a maildrop lock lives without renewal (renewed while the session is open)'),
  backendTimeoutMs: setting('POP3_BACKEND_TIMEOUT_MS', durationSetting(15_000, 1), 'deadline of a call to mailbox-store (a QUIT that removes messages gets one more for every hundred)'),
  readAheadBytes: setting(
    'POP3_READ_AHEAD_BYTES',
    sizeSetting(1024 * 1024, 0, 2 * 1024 * 1024),
    'while a client RETRs in order, the next small messages (≤ 256 KiB each) are fetched from mailbox-store in one call of about this many bytes; about twice this is held per session at most; 0 fetches each message on its own; at most 2 MiB (mailbox-store answers about 3 MiB per call)',
  ),
});

/** Every group of settings pop3-access reads, for the manifest. */
export const POP3_ACCESS_SETTING_GROUPS = [POP3_ACCESS_SETTINGS, TLS_SETTINGS, GRPC_TLS_SETTINGS, LOG_SETTINGS];

export type Pop3Config = ReturnType<typeof POP3_ACCESS_SETTINGS.load> & {
  tls: ReturnType<typeof loadTlsSettings>;
};

export function loadPop3Config(env: NodeJS.ProcessEnv = process.env): Pop3Config {
  const { listeners, tls } = gatherSettings({ listeners: () => POP3_ACCESS_SETTINGS.load(env), tls: () => loadTlsSettings(env) });
  return { ...listeners, tls };
}
