// A child process with its output kept (for failure reports) and a clean or brutal stop.
import { spawn, type ChildProcess } from 'node:child_process';
import type { RotatingLogFile } from './log-file.js';

/** Output kept per process for test failures and readiness checks. */
const OUTPUT_KEPT = 200_000;

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once: the crash in crash tests. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
  /** stop() or kill() was called: an exit that was asked for, not a crash. */
  readonly stopRequested: boolean;
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  /** `logFile`: the output is also appended to it (the local run's log files); `watch` sees all of it. */
  options: { echo?: boolean; cwd?: string; logFile?: RotatingLogFile; watch?: (text: string) => void } = {},
): ManagedProcess {
  const child = spawn(command, args, { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  // The last ~200 kB of output, kept as chunks: appending to one string and slicing it per chunk
  // copied 200 kB per log write, which under load cost the test process more CPU than a service.
  const chunks: Buffer[] = [];
  let kept = 0;
  const keep = (data: Buffer) => {
    chunks.push(data);
    kept += data.length;
    while (kept - chunks[0]!.length >= OUTPUT_KEPT) kept -= chunks.shift()!.length;
    options.logFile?.write(data);
    if (options.watch || options.echo) {
      const text = data.toString('utf8');
      options.watch?.(text);
      if (options.echo) process.stdout.write(text.replace(/^(?=.)/gm, `[${name}] `));
    }
  };
  const output = () => Buffer.concat(chunks).toString('utf8').slice(-OUTPUT_KEPT);
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stopRequested = false;
  const signal = async (sig: NodeJS.Signals, graceMs: number) => {
    stopRequested = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    name,
    child,
    output,
    stop: (graceMs = 5_000) => signal('SIGTERM', graceMs),
    kill: () => signal('SIGKILL', 0),
    exited,
    get stopRequested() {
      return stopRequested;
    },
  };
}
