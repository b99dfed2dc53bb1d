// JSON line logging (pino). Every line about a message carries `queueId` so it can be followed across services.
import { pino, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * A logger for the service. An unknown LOG_LEVEL does not crash here: the logger runs at `info`, and the
 * start-up check (startupSettings) reports the variable and refuses to start.
 */
export function createLogger(service: string, level = process.env.LOG_LEVEL || 'info'): Logger {
  return pino({
    level: (LOG_LEVELS as readonly string[]).includes(level) ? level : 'info',
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Credentials must never reach a log line, whatever a caller passes in.
    redact: { paths: ['password', '*.password', 'secret', '*.secret', 'token', '*.token'], censor: '[redacted]' },
  });
}
