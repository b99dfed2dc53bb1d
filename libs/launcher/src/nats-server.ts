// nats-server as a process of ours, with JetStream, on loopback: a given port and store directory (the
// local run: NATS_PORT and .data/nats) or a free port.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RotatingLogFile } from './log-file.js';
import { freePort, waitForPort } from './ports.js';
import { startProcess, type ManagedProcess } from './processes.js';

/** The nats-server scripts/setup.sh builds from the Go module proxy (the version deploy/ runs). */
const PROJECT_NATS_SERVER = fileURLToPath(new URL('../../../.tools/nats-server', import.meta.url));

/**
 * nats-server from NATS_SERVER_BIN, the project's .tools (a current release, built by setup), or PATH
 * (Debian's 2.9.10 as a last resort: it deadlocks on a full disk and lacks per-message TTLs).
 */
export function findNatsServer(): string {
  const candidates = [process.env.NATS_SERVER_BIN, PROJECT_NATS_SERVER, '/usr/sbin/nats-server', '/usr/bin/nats-server'];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  try {
    return execFileSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('nats-server not found: install it (apt-get install nats-server) or set NATS_SERVER_BIN');
  }
}

export interface NatsServer {
  url: string;
  port: number;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export async function startNatsServer(storeDir: string, options: { port?: number; echo?: boolean; extraArgs?: string[]; logFile?: RotatingLogFile; watch?: (text: string) => void } = {}): Promise<NatsServer> {
  const port = options.port ?? (await freePort());
  const process_ = startProcess(
    'nats-server',
    findNatsServer(),
    ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir, ...(options.extraArgs ?? [])],
    process.env,
    { echo: options.echo, logFile: options.logFile, watch: options.watch },
  );
  try {
    await Promise.race([
      waitForPort(port),
      process_.exited.then((code) => {
        throw new Error(`nats-server exited with ${code}:\n${process_.output()}`);
      }),
    ]);
  } catch (err) {
    await process_.kill();
    throw err;
  }
  return { url: `nats://127.0.0.1:${port}`, port, process: process_, stop: () => process_.stop() };
}
