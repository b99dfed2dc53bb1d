// Crash-safe file primitives: a file becomes visible under its final name only once its bytes are on disk.
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsyncs a directory so that a rename or unlink in it survives a power loss. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes chunks to a private temporary file and fsyncs it; returns the byte count. */
export async function writeTempFile(
  tmpPath: string,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<number> {
  await mkdir(dirname(tmpPath), { recursive: true });
  const handle = await open(tmpPath, 'w', 0o600);
  let size = 0;
  try {
    for await (const chunk of chunks) {
      size += chunk.byteLength;
      if (size > maxBytes) throw new RangeError(`message larger than ${maxBytes} bytes`);
      await handle.write(chunk);
    }
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(tmpPath).catch(() => undefined);
    throw err;
  }
  await handle.close();
  return size;
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
