// Typed configuration from environment variables. Each service declares one zod schema in its own
// config.ts; this module turns the environment into that schema and fails start-up with a readable message.
import { z } from 'zod';
import { INTERMEDIATE_CIPHERS } from './tls-profile.js';

/** One bad setting: the variable, the value given, and the form it accepts. */
export interface ConfigProblem {
  variable: string;
  value: string;
  expected: string;
}

/** Every bad setting of a start-up, one line each (`VAR="value": expected …`). */
export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${configProblemLine(p)}`).join('\n')}`);
  }
}

export const configProblemLine = (p: ConfigProblem): string => `${p.variable}=${JSON.stringify(p.value)}: ${p.expected}`;

/**
 * A setting read from its text by `parse`, which returns undefined for text it does not accept; `expected`
 * says what it accepts, in the error line.
 */
export const textSetting = <T>(fallback: string, expected: string, parse: (text: string) => T | undefined) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const value = parse(text.trim());
      if (value === undefined) {
        ctx.addIssue({ code: 'custom', message: expected });
        return z.NEVER;
      }
      return value;
    });

function wholeNumber(text: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return value >= min && value <= max ? value : undefined;
}

const atLeast = (min: number, unit = '') => (min > 0 ? ` of at least ${min}${unit}` : '');

/** A TCP port (0 = pick a free one). */
export const portSetting = (fallback: number) =>
  textSetting(String(fallback), 'expected a port number (0-65535)', (text) => wholeNumber(text, 0, 65535));

/** A count: a whole number of at least `min`. */
export const intSetting = (fallback: number, min = 0) =>
  textSetting(String(fallback), `expected a whole number${atLeast(min)}`, (text) => wholeNumber(text, min));

const BOOLEANS: Record<string, boolean> = { true: true, false: false, yes: true, no: false, '1': true, '0': false, on: true, off: false };

export const boolSetting = (fallback: boolean) =>
  textSetting(String(fallback), 'expected true or false (also yes/no, on/off, 1/0)', (text) => BOOLEANS[text.toLowerCase()]);

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds from "1500" (plain milliseconds), "250ms", "30s", "5m", "4h", "1.5d"; undefined otherwise. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(text.trim());
  return match ? Math.round(Number(match[1]) * DURATION_UNITS[(match[2] ?? 'ms').toLowerCase()]!) : undefined;
}

/** A duration in milliseconds, written as plain milliseconds or with a unit (`500ms`, `30s`, `5m`, `1h`, `1d`). */
export const durationSetting = (fallbackMs: number, minMs = 0) =>
  textSetting(String(fallbackMs), `expected a duration: milliseconds, or a number with ms, s, m, h or d (e.g. 500ms, 30s, 5m, 1h)${atLeast(minMs, ' ms')}`, (text) => {
    const ms = parseDuration(text);
    return ms !== undefined && ms >= minMs ? ms : undefined;
  });

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** Bytes from "26214400", "512KB", "25MB", "1.5GB" (1024-based; K/M/G and KiB/MiB/GiB too); undefined otherwise. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  return match && unit ? Math.round(Number(match[1]) * unit) : undefined;
}

/** A size in bytes, written as bytes or with KB, MB or GB (1024-based). */
export const sizeSetting = (fallbackBytes: number, minBytes = 0, maxBytes = Number.POSITIVE_INFINITY) =>
  textSetting(
    String(fallbackBytes),
    `expected a size: bytes, or a number with KB, MB or GB (1024-based, e.g. 512KB, 25MB)${atLeast(minBytes, ' bytes')}${Number.isFinite(maxBytes) ? ` and at most ${maxBytes} bytes` : ''}`,
    (text) => {
      const bytes = parseSize(text);
      return bytes !== undefined && bytes >= minBytes && bytes <= maxBytes ? bytes : undefined;
    },
  );

/** What a zod issue of a setting's own (not one of the settings above) says the variable accepts. */
function expectedForm(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_value') return `expected one of: ${issue.values.map(String).join(', ')}`;
  return issue.message;
}

/** A setting as the service runs with it (GET /status, mailctl config). */
export interface EffectiveSetting {
  variable: string;
  /** The value in use, as text; secrets are never shown. */
  value: string;
  /** The text the environment gave, when it gave one (else the default is in use). */
  given?: string;
}

/** Every setting this process read, by variable (the last read wins). */
const effective = new Map<string, EffectiveSetting>();

const SECRET_VARIABLE = /PASSWORD|TOKEN|SECRET|NKEY_SEED/;

/** A value fit to show: secrets hidden, the password of a URL masked. */
function shownValue(variable: string, value: unknown): string {
  if (SECRET_VARIABLE.test(variable)) return value === '' || value === undefined ? '' : '(set, not shown)';
  const text = value === null ? 'off' : Array.isArray(value) ? value.join(',') : typeof value === 'object' ? JSON.stringify(value) : String(value ?? '');
  return text.replace(/(\/\/[^/:@\s]*):[^/@\s]*@/g, '$1:***@');
}

/** The settings this process runs with, in the order they were read. */
export const effectiveSettings = (): EffectiveSetting[] => [...effective.values()];

/**
 * Reads settings from `env` by the mapping `{ settingName: 'ENV_VAR' }` and validates them with `schema`.
 * Unset or empty variables fall back to the schema default. Every bad variable is reported, one line each.
 */
export function loadConfig<S extends z.ZodType<object>>(
  schema: S,
  names: { [K in keyof z.infer<S>]: string },
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const raw: Record<string, string> = {};
  for (const [key, variable] of Object.entries(names) as [string, string][]) {
    const value = env[variable];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const key = String(issue.path[0] ?? '');
        return { variable: (names as Record<string, string>)[key] ?? key, value: raw[key] ?? '', expected: expectedForm(issue) };
      }),
    );
  }
  for (const [key, variable] of Object.entries(names) as [string, string][]) {
    const value = (parsed.data as Record<string, unknown>)[key];
    effective.set(variable, { variable, value: shownValue(variable, value), ...(raw[key] === undefined ? {} : { given: shownValue(variable, raw[key]) }) });
  }
  return parsed.data;
}

/**
 * One setting, written once: the environment variable it is read from, its type (the parser, with the
 * default and the error line), and what it is for. The manifest (each service's settings for the README
 * tables, deploy-check and the launcher) is made from these, so a variable is never spelt twice.
 */
export interface Setting<T extends z.ZodType = z.ZodType> {
  readonly variable: string;
  readonly type: T;
  readonly description: string;
  /** The default as documentation shows it, where the type's own is not fit to show (the host name). */
  readonly shownDefault?: string;
}

export const setting = <T extends z.ZodType>(variable: string, type: T, description: string, shownDefault?: string): Setting<T> => ({
  variable,
  type,
  description,
  ...(shownDefault === undefined ? {} : { shownDefault }),
});

/** What the manifest says of one setting. */
export interface SettingInfo {
  /** The name of the setting in the service's typed configuration. */
  key: string;
  variable: string;
  /** The default as text ('' when there is none). */
  default: string;
  description: string;
}

type SettingsShape<S extends Record<string, Setting>> = { [K in keyof S]: S[K]['type'] };
type SettingsOf<S extends Record<string, Setting>> = z.infer<z.ZodObject<SettingsShape<S>>>;

/** Settings read together: their loader (every bad variable reported at once) and their manifest. */
export interface SettingGroup<S extends Record<string, Setting> = Record<string, Setting>> {
  /** What the group is, as the README's heading of its table. */
  readonly title: string;
  readonly settings: S;
  load(env?: NodeJS.ProcessEnv): SettingsOf<S>;
  manifest(): SettingInfo[];
}

/** The text of a type's default: a `.default()` found through its pipes; '' when it has none. */
function defaultText(type: z.ZodType): string {
  let def = type._zod.def as { type: string; in?: z.ZodType; defaultValue?: unknown };
  while (def.type === 'pipe' && def.in) def = def.in._zod.def as typeof def;
  if (def.type !== 'default') return '';
  const value = def.defaultValue;
  return value === null ? 'off' : String(value);
}

/**
 * A group of settings; `refine` may add a check across them (its message names the setting by its key,
 * and the error line by its variable).
 */
export function settingGroup<S extends Record<string, Setting>>(
  title: string,
  settings: S,
  refine: (schema: z.ZodObject<SettingsShape<S>>) => z.ZodType<SettingsOf<S>> = (schema) => schema as unknown as z.ZodType<SettingsOf<S>>,
): SettingGroup<S> {
  const entries = Object.entries(settings);
  const shape = Object.fromEntries(entries.map(([key, s]) => [key, s.type])) as SettingsShape<S>;
  const names = Object.fromEntries(entries.map(([key, s]) => [key, s.variable])) as { [K in keyof SettingsOf<S>]: string };
  const schema = refine(z.object(shape));
  return {
    title,
    settings,
    load: (env: NodeJS.ProcessEnv = process.env) => loadConfig(schema as z.ZodType<object>, names as never, env) as SettingsOf<S>,
    manifest: () => entries.map(([key, s]) => ({ key, variable: s.variable, default: s.shownDefault ?? defaultText(s.type), description: s.description })),
  };
}

/**
 * Runs several loaders and returns their results by name; when any fails, throws one ConfigError with the
 * problems of all of them, so that one start-up reports every bad variable at once.
 */
export function gatherSettings<L extends Record<string, () => unknown>>(loaders: L): { [K in keyof L]: ReturnType<L[K]> } {
  const results: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  for (const [name, load] of Object.entries(loaders)) {
    try {
      results[name] = load();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return results as { [K in keyof L]: ReturnType<L[K]> };
}

/** A port, or "off" (null) for a listener that should not run. */
export const optionalPortSetting = (fallback: number | 'off') =>
  z
    .string()
    .default(String(fallback))
    .transform((value, ctx) => {
      if (value.trim() === 'off') return null;
      const port = wholeNumber(value.trim(), 0, 65535);
      if (port === undefined) {
        ctx.addIssue({ code: 'custom', message: 'expected a port number (0-65535) or "off"' });
        return z.NEVER;
      }
      return port;
    });

/** TLS of the mail listeners, shared by smtp-ingress and pop3-access (TLS_* variables). */
export const TLS_SETTINGS = settingGroup('TLS of the mail listeners (smtp-ingress, pop3-access)', {
  certFile: setting('TLS_CERT_FILE', z.string().default(''), 'certificate (PEM) of the mail listeners, reloaded when the file changes'),
  keyFile: setting('TLS_KEY_FILE', z.string().default(''), 'its private key (PEM)'),
  selfSigned: setting('TLS_SELF_SIGNED', boolSetting(false), 'make a self-signed certificate when the files are missing (ECDSA P-256, signed with SHA-256)'),
  selfSignedNames: setting(
    'TLS_SELF_SIGNED_NAMES',
    z
      .string()
      .default('localhost,127.0.0.1')
      .transform((v) => v.split(',').map((n) => n.trim()).filter(Boolean)),
    'the names of that certificate',
  ),
  minVersion: setting('TLS_MIN_VERSION', z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'), 'oldest TLS version accepted: `TLSv1.2` or `TLSv1.3`'),
  ciphers: setting(
    'TLS_CIPHERS',
    z.string().default(INTERMEDIATE_CIPHERS),
    'cipher list; the default is Mozilla\'s "intermediate" profile (TLS 1.2 only with ECDHE and AES-GCM or ChaCha20-Poly1305, every TLS 1.3 suite; `libs/platform/src/tls-profile.ts`; `e2e/tls-scan.test.ts` has sslyze, installed from PyPI by `scripts/setup.sh --test-tools`, scan SMTPS, POP3S and each STARTTLS/STLS port for it). Outbound STARTTLS (delivery-agent) keeps Node\'s wider defaults: it is opportunistic (RFC 7435), towards servers we do not run',
    'intermediate profile',
  ),
  reloadIntervalMs: setting('TLS_RELOAD_INTERVAL_MS', durationSetting(5000, 100), 'how often the certificate files are looked at for a change'),
});

/** TLS settings of the mail listeners, shared by smtp-ingress and pop3-access (TLS_* variables). */
export const loadTlsSettings = (env: NodeJS.ProcessEnv = process.env) => TLS_SETTINGS.load(env);

/** A setting read from text by `parse`, whose error message becomes the validation message. */
export const parsedSetting = <T>(fallback: string, parse: (text: string) => T) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      try {
        return parse(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });

// Settings read by several services under one name, each described once.
export const NATS_URL_SETTING = setting('NATS_URL', z.string().default('nats://127.0.0.1:4222'), 'the JetStream server');
export const MAILBOX_STORE_ADDRESS_SETTING = setting('MAILBOX_STORE_ADDRESS', z.string().default('127.0.0.1:50051'), 'mailbox-store gRPC address');
export const PROXY_PROTOCOL_SETTING = setting('PROXY_PROTOCOL', boolSetting(false), 'expect a PROXY protocol (v1/v2) header from the load balancers in `PROXY_TRUSTED_NETWORKS`');
export const PROXY_TRUSTED_NETWORKS_SETTING = setting('PROXY_TRUSTED_NETWORKS', z.string().default(''), 'where PROXY headers are believed from, e.g. `10.0.0.0/8`; others are served as direct clients');

/** The connection limits of a mail listener (`<PREFIX>_MAX_CONNECTIONS`, …): smtp-ingress and pop3-access. */
export const connectionLimitSettings = (prefix: string) => ({
  maxConnections: setting(
    `${prefix}_MAX_CONNECTIONS`,
    intSetting(1000, 1),
    'concurrent connections per process, counted from accept (before any PROXY header or TLS handshake); over it, an implicit-TLS port closes the connection without a word',
  ),
  /**
   * Percentage of maxConnections kept for client addresses that hold no connection yet: once only these
   * are free, an address that already has one is refused, so a few addresses cannot take every slot.
   */
  reservedConnectionsPercent: setting(
    `${prefix}_RESERVED_CONNECTIONS_PERCENT`,
    z.coerce.number().int().min(0).max(100).default(10),
    `share of \`${prefix}_MAX_CONNECTIONS\` kept for client addresses that hold no connection yet (\`421 4.7.0 Server busy…\` to an SMTP client that does), so a few addresses cannot take every slot`,
  ),
  maxConnectionsPerAddress: setting(`${prefix}_MAX_CONNECTIONS_PER_ADDRESS`, intSetting(20, 1), 'connections per client address'),
});
