// A service's log file in the local run, rotated by size: <name>.log is renamed <name>.log.1 (and .1 to .2,
// up to `keep` old files) once it would pass `maxBytes`. Writes are synchronous: a line is on disk when a
// test or `mailctl logs` looks, and nothing is lost when the run stops.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export class RotatingLogFile {
  private fd: number | undefined;
  private size: number;

  constructor(
    readonly path: string,
    private readonly maxBytes = 10 * 1024 * 1024,
    private readonly keep = 3,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, 'a');
    this.size = fstatSync(this.fd).size;
  }

  /** Appends; after close() (output that arrives once its process has been stopped) it writes nothing. */
  write(text: string | Buffer): void {
    if (this.fd === undefined) return;
    const bytes = typeof text === 'string' ? Buffer.from(text) : text;
    if (this.size > 0 && this.size + bytes.length > this.maxBytes) this.rotate();
    writeSync(this.fd, bytes);
    this.size += bytes.length;
  }

  private rotate(): void {
    closeSync(this.fd!);
    rmSync(`${this.path}.${this.keep}`, { force: true });
    for (let n = this.keep - 1; n >= 1; n--) if (existsSync(`${this.path}.${n}`)) renameSync(`${this.path}.${n}`, `${this.path}.${n + 1}`);
    if (this.keep > 0) renameSync(this.path, `${this.path}.1`);
    else rmSync(this.path, { force: true });
    this.fd = openSync(this.path, 'a');
    this.size = 0;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
