// Temporary folders of a test process, removed when the process exits after its last test, so that a
// run leaves nothing behind in the system's temporary directory; a process whose tests failed keeps them.
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();

function removeAll(): void {
  // A failed test keeps them (the services' logs are there, in <dir>/logs): a failure seen once in CI
  // can then be read, not only guessed at.
  if (process.exitCode !== undefined && process.exitCode !== 0) {
    for (const dir of made) process.stderr.write(`test process failed: kept ${dir}\n`);
    return;
  }
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
}

/** A new folder under the system's temporary directory, named `prefix` and a random suffix. */
export async function temporaryDirectory(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (made.size === 0) process.once('exit', removeAll);
  made.add(dir);
  return dir;
}
