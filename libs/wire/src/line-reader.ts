// Splits a command stream (SMTP, POP3) into lines with a length cap. An over-long line is dropped as
// it streams, never held whole, and reported once its end arrives. Bytes that are not a command (an
// SMTP DATA section) can be taken out and given back.

export type LineResult = { line: string } | { tooLong: true };

export class LineReader {
  private pending: Buffer = Buffer.alloc(0);
  private discarding = false;
  /** How many times held bytes of an over-long line were dropped (each time, maxLineBytes or more of it arrived). */
  private drops = 0;

  /** `maxLineBytes` counts the line ending too. */
  constructor(private readonly maxLineBytes: number) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
  }

  /** Bytes held (for back-pressure decisions). */
  get buffered(): number {
    return this.pending.length;
  }

  get overLongDrops(): number {
    return this.drops;
  }

  /** Part of a line is held, or an over-long one is being dropped: the client is in the middle of a command. */
  get midLine(): boolean {
    return this.pending.length > 0 || this.discarding;
  }

  /** A complete line is held: the next command is already here (RFC 2920 pipelining). */
  get holdsLine(): boolean {
    return this.pending.indexOf(0x0a) >= 0;
  }

  /** The next line (without CRLF or LF; UTF-8), `tooLong` for a dropped one, or undefined for "need more". */
  next(): LineResult | undefined {
    const lf = this.pending.indexOf(0x0a);
    if (lf < 0) {
      if (this.pending.length > this.maxLineBytes) {
        this.discarding = true;
        this.drops++;
        this.pending = Buffer.alloc(0);
      }
      return undefined;
    }
    const raw = this.pending.subarray(0, lf);
    this.pending = this.pending.subarray(lf + 1);
    if (this.discarding || raw.length + 1 > this.maxLineBytes) {
      this.discarding = false;
      return { tooLong: true };
    }
    return { line: raw.toString('utf8').replace(/\r$/, '') };
  }

  /** Everything held, for a reader of another kind (DATA); the line reader is left empty. */
  takeAll(): Buffer {
    const all = this.pending;
    this.pending = Buffer.alloc(0);
    return all;
  }

  /** Gives back bytes that the other reader did not use (what followed the end of DATA). */
  giveBack(bytes: Buffer): void {
    this.pending = this.pending.length === 0 ? bytes : Buffer.concat([bytes, this.pending]);
  }

  /** Forgets everything held (STARTTLS: nothing sent before the handshake may count). */
  clear(): void {
    this.pending = Buffer.alloc(0);
    this.discarding = false;
  }
}
