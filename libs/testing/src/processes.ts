// A child process with its output kept (for failure reports) and a clean or brutal stop.
import { spawn, type ChildProcess } from 'node:child_process';
import type { RotatingLogFile } from './log-file.js';

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
  let output = '';
  const keep = (data: Buffer) => {
    const text = data.toString('utf8');
    output = (output + text).slice(-200_000);
    options.logFile?.write(data);
    options.watch?.(text);
    if (options.echo) process.stdout.write(text.replace(/^(?=.)/gm, `[${name}] `));
  };
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
    output: () => output,
    stop: (graceMs = 5_000) => signal('SIGTERM', graceMs),
    kill: () => signal('SIGKILL', 0),
    exited,
    get stopRequested() {
      return stopRequested;
    },
  };
}
