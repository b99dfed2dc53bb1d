// Graceful shutdown: run the registered closers once on SIGTERM/SIGINT, then exit.
import type { Logger } from 'pino';

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
