// Crash-safe file primitives: a file becomes visible under its final name only once its bytes are on disk.
import { closeSync, fsync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

const fsyncFd = promisify(fsync);

/** fsyncs a directory so that a rename or unlink in it survives a power loss (only the fsync waits, in the thread pool). */
export async function syncDirectory(path: string): Promise<void> {
  const fd = openSync(path, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Group commit of directory entries: `sync(dir)` resolves once an fsync of `dir` that *started after*
 * the call has finished. Callers that arrive while one fsync runs share the next one, so N renames
 * into a mailbox during one fsync cost two fsyncs, not N — and each caller still gets a sync that
 * covers its own rename.
 */
export class DirectorySyncer {
  private readonly running = new Map<string, Promise<void>>();
  private readonly next = new Map<string, Promise<void>>();

  sync(dir: string): Promise<void> {
    const queued = this.next.get(dir);
    if (queued) return queued;
    const current = this.running.get(dir);
    if (!current) return this.start(dir);
    const after = current.catch(() => undefined).then(() => {
      this.next.delete(dir);
      return this.start(dir);
    });
    this.next.set(dir, after);
    return after;
  }

  private start(dir: string): Promise<void> {
    const run = syncDirectory(dir).finally(() => {
      if (this.running.get(dir) === run) this.running.delete(dir);
    });
    this.running.set(dir, run);
    return run;
  }
}

/**
 * Writes chunks to a private temporary file and fsyncs it; returns the byte count. Opening, writing into
 * the page cache and closing are done in place (microseconds on a local disk, the embedded store's
 * place); only the fsync, the one call that waits for the disk, goes to the thread pool. Four thread-pool
 * round trips per message cost more CPU than the work they carry.
 */
export async function writeTempFile(
  tmpPath: string,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<number> {
  const fd = inDirectory(dirname(tmpPath), () => openSync(tmpPath, 'w', 0o600));
  let size = 0;
  try {
    for await (const chunk of chunks) {
      size += chunk.byteLength;
      if (size > maxBytes) throw new RangeError(`message larger than ${maxBytes} bytes`);
      writeAll(fd, chunk);
    }
    await fsyncFd(fd);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmpPath);
    } catch {
      // already gone
    }
    throw err;
  }
  closeSync(fd);
  return size;
}

/** Writes all of `bytes` at the file's position (a write may take fewer than asked). */
function writeAll(fd: number, bytes: Uint8Array): void {
  for (let written = 0; written < bytes.byteLength; ) written += writeSync(fd, bytes, written);
}

/**
 * Gives a synced file its final name (atomic on POSIX), making the target directory if it is missing; in
 * place, like the writes above (a metadata change; the directory's fsync, which waits, comes after).
 */
export function renameIntoDirectory(tmpPath: string, finalPath: string): void {
  inDirectory(dirname(finalPath), () => renameSync(tmpPath, finalPath));
}

/** Runs `act` on a path in `dir`, making `dir` first if it turns out to be missing (no mkdir per message). */
export function inDirectory<T>(dir: string, act: () => T): T {
  try {
    return act();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(dir, { recursive: true });
    return act();
  }
}

/** Moves a synced temporary file to its final name (atomic on POSIX) and makes the rename durable. */
export async function publishFile(tmpPath: string, finalPath: string): Promise<void> {
  await rename(tmpPath, finalPath);
  await syncDirectory(dirname(finalPath));
}

/** The whole replace-a-file dance for small files such as accounts.json. */
export async function replaceFileDurably(finalPath: string, content: Uint8Array): Promise<void> {
  const tmpPath = `${finalPath}.tmp`;
  await writeTempFile(tmpPath, [content]);
  await publishFile(tmpPath, finalPath);
}

/** Appends text to a file (made when missing) and fsyncs it before returning. */
export async function appendDurably(path: string, text: string): Promise<void> {
  const fd = inDirectory(dirname(path), () => openSync(path, 'a', 0o600));
  try {
    writeAll(fd, Buffer.from(text));
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}
