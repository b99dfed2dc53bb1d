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

const tlsSchema = z.object({
  certFile: z.string().default(''),
  keyFile: z.string().default(''),
  selfSigned: boolSetting(false),
  selfSignedNames: z
    .string()
    .default('localhost,127.0.0.1')
    .transform((v) => v.split(',').map((n) => n.trim()).filter(Boolean)),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  ciphers: z.string().default(INTERMEDIATE_CIPHERS),
  reloadIntervalMs: durationSetting(5000, 100),
});

/** TLS settings of the mail listeners, shared by smtp-ingress and pop3-access (TLS_* variables). */
export const loadTlsSettings = (env: NodeJS.ProcessEnv = process.env) =>
  loadConfig(
    tlsSchema,
    {
      certFile: 'TLS_CERT_FILE',
      keyFile: 'TLS_KEY_FILE',
      selfSigned: 'TLS_SELF_SIGNED',
      selfSignedNames: 'TLS_SELF_SIGNED_NAMES',
      minVersion: 'TLS_MIN_VERSION',
      ciphers: 'TLS_CIPHERS',
      reloadIntervalMs: 'TLS_RELOAD_INTERVAL_MS',
    },
    env,
  );

const authThrottleSchema = z.object({
  maxFailures: intSetting(5, 1),
  windowMs: durationSetting(15 * 60_000, 1000),
  lockMs: durationSetting(15 * 60_000, 0),
  baseDelayMs: durationSetting(500, 0),
  maxDelayMs: durationSetting(8000, 0),
  addressMaxFailures: intSetting(0, 0),
});

/** Failed-authentication throttling (AUTH_* variables), read by mailbox-store, which keeps the failure records. */
export const loadAuthThrottleSettings = (env: NodeJS.ProcessEnv = process.env) =>
  loadConfig(
    authThrottleSchema,
    {
      maxFailures: 'AUTH_MAX_FAILURES',
      windowMs: 'AUTH_FAILURE_WINDOW_MS',
      lockMs: 'AUTH_LOCK_MS',
      baseDelayMs: 'AUTH_DELAY_BASE_MS',
      maxDelayMs: 'AUTH_DELAY_MAX_MS',
      addressMaxFailures: 'AUTH_ADDRESS_MAX_FAILURES',
    },
    env,
  );

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
