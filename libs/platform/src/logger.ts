// JSON line logging (pino). Every line about a message carries `queueId` so it can be followed across services.
import { format } from 'node:util';
import { pino, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * A logger for the service. An unknown LOG_LEVEL does not crash here: the logger runs at `info`, and the
 * start-up check (startupSettings) reports the variable and refuses to start.
 */
export function createLogger(service: string, level = process.env.LOG_LEVEL || 'info'): Logger {
  return pino(
    {
    level: (LOG_LEVELS as readonly string[]).includes(level) ? level : 'info',
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Credentials must never reach a log line, whatever a caller passes in.
    redact: { paths: ['password', '*.password', 'secret', '*.secret', 'token', '*.token'], censor: '[redacted]' },
    },
    stdoutOncePerTurn(),
  );
}

let stdout: { write(line: string): void } | undefined;

/**
 * Standard output, written once per turn of the event loop: the lines logged in one turn leave in one
 * write. A write per line was a system call per line, several per message under load. A line is out
 * by the end of the turn that logged it (so a `kill -9` loses at most that turn's lines), and whatever
 * is buffered is written at exit, a crash's last words included. One buffer per process, shared by
 * every logger.
 */
function stdoutOncePerTurn(): { write(line: string): void } {
  if (stdout) return stdout;
  // SonicBoom (pino's own destination) in synchronous mode, holding lines until flushed: the flush is ours.
  const out = pino.destination({ dest: 1, sync: true, minLength: 64 * 1024, maxWrite: 1024 * 1024 });
  out.on('error', () => undefined); // stdout gone (the reader closed the pipe): logging must not crash the service
  let scheduled = false;
  // flush(), not flushSync(): in synchronous mode both write at once, but flushSync also fsyncs, a
  // real disk flush per turn when stdout is a file. At exit it is what we want.
  const flush = () => {
    scheduled = false;
    try {
      out.flush();
    } catch {
      // as above
    }
  };
  process.on('exit', () => {
    try {
      out.flushSync();
    } catch {
      // as above
    }
  });
  stdout = {
    write(line: string) {
      out.write(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
  return stdout;
}

/**
 * What a library prints with console.log/info/warn/error (mailauth prints a debugging line on some DKIM
 * body-length mismatches) becomes a log line of the service's, at debug or warn: standard output is
 * JSON lines only, one per event, and a stray line there would break the parsers of the log pipeline.
 */
export function routeConsoleTo(logger: Logger): void {
  const at = (level: 'debug' | 'warn') => (...args: unknown[]) => logger[level]({ console: true }, format(...args));
  console.log = at('debug');
  console.info = at('debug');
  console.debug = at('debug');
  console.warn = at('warn');
  console.error = at('warn');
}
