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
  return pino(loggerOptions(service, level), coalescedStdout());
}

/** The services' pino settings (apart from where the lines go). */
export function loggerOptions(service: string, level: string): pino.LoggerOptions {
  return {
    level: (LOG_LEVELS as readonly string[]).includes(level) ? level : 'info',
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { log: redactCredentials },
  };
}

const CREDENTIAL_KEYS: readonly string[] = ['password', 'secret', 'token'];
const CENSOR = '[redacted]';

/**
 * Credentials must never reach a log line, whatever a caller passes in: a field named password, secret or
 * token, at the top of a line's object or one level down (an error's or a request's), is written as
 * `[redacted]`; the caller's objects are left as they were. Nothing is copied on a line without one. pino's
 * `redact` option, which did this before, copied every object-valued field of every line: 6-12 µs a line
 * measured, twice the cost of writing the line; a delivered mail makes six lines across the services.
 */
export function redactCredentials(object: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(object)) {
    const value = object[key];
    if (CREDENTIAL_KEYS.includes(key)) {
      copy ??= { ...object };
      copy[key] = CENSOR;
    } else if (typeof value === 'object' && value !== null && CREDENTIAL_KEYS.some((name) => Object.hasOwn(value, name))) {
      // A copy with every own property (an Error's message and stack too), the credentials censored.
      const censored = Object.create(Object.getPrototypeOf(value) as object | null, Object.getOwnPropertyDescriptors(value)) as Record<string, unknown>;
      for (const name of CREDENTIAL_KEYS) if (Object.hasOwn(censored, name)) Object.defineProperty(censored, name, { value: CENSOR, enumerable: true });
      copy ??= { ...object };
      copy[key] = censored;
    }
  }
  return copy ?? object;
}

let stdout: { write(line: string): void } | undefined;

/**
 * Under load, standard output is written at most once per FLUSH_INTERVAL_MS. A write per turn of the event
 * loop was still a system call and a wake-up of the log reader (the launcher, a container runtime's log
 * shim) for every few lines: at 1,000 messages/s the services wrote about 6,000 times a second. Writing
 * at most every 10 ms lowered the machine's CPU per message at 1 KB x 16 (BENCHMARKS.md, "Log output").
 * What a `kill -9` can lose grows from one turn's lines to at most 10 ms of them, under load only: the
 * mail itself is durable either way.
 */
const FLUSH_INTERVAL_MS = 10;

/**
 * Lines held in `sink` and flushed by the end of the turn that wrote them when the output has been quiet,
 * or, while lines keep coming, at most once per `intervalMs`: one write for many lines.
 */
export class CoalescingOutput {
  private scheduled = false;
  private lastFlush = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly sink: { write(text: string): void; flush(): void },
    private readonly intervalMs: number,
  ) {}

  write(line: string): void {
    this.sink.write(line);
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.lastFlush + this.intervalMs - performance.now();
    // Unreferenced: a pending flush never keeps the process alive (the exit handler writes what is held).
    if (wait > 0) setTimeout(this.flush, wait).unref();
    else setImmediate(this.flush).unref();
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    this.lastFlush = performance.now();
    this.sink.flush();
  };
}

/**
 * Standard output, written in batches (CoalescingOutput), and whatever is held written at exit, a
 * crash's last words included. One buffer per process, shared by every logger.
 */
function coalescedStdout(): { write(line: string): void } {
  if (stdout) return stdout;
  // SonicBoom (pino's own destination) in synchronous mode, holding lines until flushed: the flush is ours.
  const out = pino.destination({ dest: 1, sync: true, minLength: 64 * 1024, maxWrite: 1024 * 1024 });
  out.on('error', () => undefined); // stdout gone (the reader closed the pipe): logging must not crash the service
  process.on('exit', () => {
    try {
      out.flushSync();
    } catch {
      // as above
    }
  });
  stdout = new CoalescingOutput(
    {
      write: (text) => out.write(text),
      // flush(), not flushSync(): in synchronous mode both write at once, but flushSync also fsyncs, a
      // real disk flush per batch when stdout is a file. At exit it is what we want.
      flush: () => {
        try {
          out.flush();
        } catch {
          // as above
        }
      },
    },
    FLUSH_INTERVAL_MS,
  );
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
