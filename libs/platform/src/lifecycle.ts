// Start-up and shutdown: the settings check that lets nothing start with a bad value, the one-line
// start-up failure, and the graceful shutdown (closers run once on SIGTERM/SIGINT, then exit).
import type { Logger } from 'pino';
import { ConfigError, configProblemLine, gatherSettings, setting, settingGroup, textSetting } from './config.js';
import { LOG_LEVELS } from './logger.js';

/** The exit status of a start-up refused for its configuration (EX_CONFIG of sysexits.h). */
export const EXIT_CONFIG = 78;

/** LOG_LEVEL, checked like every other setting (the logger itself falls back to info). */
export const LOG_SETTINGS = settingGroup('Logging (every service)', {
  level: setting(
    'LOG_LEVEL',
    textSetting('info', `expected one of: ${LOG_LEVELS.join(', ')}`, (text) => ((LOG_LEVELS as readonly string[]).includes(text) ? text : undefined)),
    `pino log level: ${LOG_LEVELS.map((l) => `\`${l}\``).join(', ')}`,
  ),
});

/** LOG_LEVEL, checked like every other setting (the logger itself falls back to info). */
export const loadLogLevel = (env: NodeJS.ProcessEnv = process.env) => LOG_SETTINGS.load(env).level;

/**
 * Every setting a service reads, checked before anything starts: on any bad value, one plain line per
 * bad variable on stderr (the variable, the value given, the form it accepts) and exit status 78.
 */
export function startupSettings<L extends Record<string, () => unknown>>(service: string, loaders: L): { [K in keyof L]: ReturnType<L[K]> } {
  try {
    return gatherSettings({ ...loaders, logLevel: () => loadLogLevel() });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const lines = err.problems.map((problem) => `${service}: ${configProblemLine(problem)}`);
    lines.push(`${service}: not started: ${err.problems.length} invalid setting${err.problems.length === 1 ? '' : 's'}`);
    process.stderr.write(`${lines.join('\n')}\n`);
    process.exit(EXIT_CONFIG);
  }
}

export function onShutdown(logger: Logger, close: () => Promise<void>, deadlineMs = 25_000): void {
  let closing = false;
  const handler = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error('shutdown deadline passed, exiting');
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    close()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      });
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/** Logs a fatal start-up error in one clear line and exits non-zero. */
export function exitOnStartupError(logger: Logger, err: unknown): never {
  logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'start-up failed');
  process.exit(1);
}
