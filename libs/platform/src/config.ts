// Typed configuration from environment variables. Each service declares one zod schema in its own
// config.ts; this module turns the environment into that schema and fails start-up with a readable message.
import { z } from 'zod';

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
