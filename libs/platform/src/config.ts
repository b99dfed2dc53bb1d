// Typed configuration from environment variables. Each service declares one zod schema in its own
// config.ts; this module turns the environment into that schema and fails start-up with a readable message.
import { z } from 'zod';
import { INTERMEDIATE_CIPHERS } from './tls-profile.js';

export class ConfigError extends Error {}

/** A TCP port given as a string in the environment (0 = pick a free one). */
export const portSetting = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
export const intSetting = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);
export const boolSetting = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/**
 * Reads settings from `env` by the mapping `{ settingName: 'ENV_VAR' }` and validates them with `schema`.
 * Unset or empty variables fall back to the schema default.
 */
export function loadConfig<S extends z.ZodObject>(
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
    const lines = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const variable = (names as Record<string, string>)[key] ?? key;
      return `  ${variable}=${JSON.stringify(raw[key] ?? '')}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** A port, or "off" (null) for a listener that should not run. */
export const optionalPortSetting = (fallback: number | 'off') =>
  z
    .string()
    .default(String(fallback))
    .transform((value, ctx) => {
      if (value === 'off') return null;
      const port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        ctx.addIssue({ code: 'custom', message: 'a port number (0-65535) or "off"' });
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
  reloadIntervalMs: intSetting(5000, 100),
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
  windowMs: intSetting(15 * 60_000, 1000),
  lockMs: intSetting(15 * 60_000, 0),
  baseDelayMs: intSetting(500, 0),
  maxDelayMs: intSetting(8000, 0),
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
