// The BDAT reader (RFC 3030 CHUNKING): a message arrives as chunks whose sizes the client announces, so
// there is no dot-stuffing and no terminator to look for; each chunk is exactly its announced octets.
// It keeps the guarantees of the DATA reader: bytes past the size limit are counted and dropped, bare CR
// or LF is counted (and normalised to CRLF when configured) unless the body is BINARYMIME, and the
// observer (the authentication check) sees the message as it will be stored, piece by piece.

import { isAscii } from 'node:buffer';
import { readerResult, type BareLineEndingPolicy, type DataResult } from './data-reader.js';

const CR = 0x0d;
const LF = 0x0a;
const CRLF = Buffer.from('\r\n');
const LONE_LF = Buffer.from('\n');

export class ChunkReader {
  /** Octets of the current chunk still to come. */
  private remaining = 0;
  private pieces: Buffer[] = [];
  private size = 0;
  private bareLineEndings = 0;
  private eightBit = false;
  /** The last octet taken was a CR whose LF (if any) has not arrived yet. */
  private crPending = false;

  /**
   * `binary`: BODY=BINARYMIME, where any octet is content and line endings are not checked.
   * `observer`: as for the DATA reader; it sees nothing once the message is over the size limit.
   */
  constructor(
    private readonly maxBytes: number,
    private readonly bareLineEndingPolicy: BareLineEndingPolicy,
    private readonly binary: boolean,
    private readonly observer?: (piece: Buffer) => void,
    /** false: the observer takes the message away as it comes (result() has no message then). */
    private readonly keepMessage = true,
  ) {}

  /** Starts the next chunk of `octets` octets (BDAT's chunk-size). */
  beginChunk(octets: number): void {
    this.remaining = octets;
  }

  /** Octets of the announced chunk not yet received. */
  get pending(): number {
    return this.remaining;
  }

  /** Takes what belongs to the current chunk; returns the bytes used once it is complete, else -1. */
  push(input: Buffer): number {
    const used = Math.min(this.remaining, input.length);
    this.remaining -= used;
    if (used > 0) this.take(input.subarray(0, used));
    return this.remaining === 0 ? used : -1;
  }

  private take(bytes: Buffer): void {
    if (!this.eightBit && !isAscii(bytes)) this.eightBit = true;
    if (this.binary) return this.add(bytes);
    const normalize = this.bareLineEndingPolicy === 'normalize';
    let runStart = 0;
    let from = 0;
    // A CR that ended the previous piece (stored already): the first octet here says what it was.
    if (this.crPending) {
      this.crPending = false;
      if (bytes[0] === LF) from = 1;
      else {
        this.bareLineEndings++;
        if (normalize) this.add(LONE_LF);
      }
    }
    for (let i = this.nextLineEnding(bytes, from); i !== -1; i = this.nextLineEnding(bytes, i + 1)) {
      if (bytes[i] === CR) {
        if (i + 1 === bytes.length) this.crPending = true;
        else if (bytes[i + 1] === LF) i++; // a line end
        else {
          this.bareLineEndings++;
          if (normalize) {
            this.add(bytes.subarray(runStart, i + 1));
            this.add(LONE_LF);
            runStart = i + 1;
          }
        }
      } else {
        // An LF with no CR before it (a CRLF's LF was stepped over above).
        this.bareLineEndings++;
        if (normalize) {
          this.add(bytes.subarray(runStart, i));
          this.add(CRLF);
          runStart = i + 1;
        }
      }
    }
    this.add(bytes.subarray(runStart));
  }

  private nextLineEnding(bytes: Buffer, from: number): number {
    const cr = bytes.indexOf(CR, from);
    const lf = bytes.indexOf(LF, from);
    return cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
  }

  private add(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.size += bytes.length;
    if (this.size > this.maxBytes) {
      this.pieces = []; // oversize: drop what we held, count the rest
      return;
    }
    if (this.keepMessage) this.pieces.push(bytes);
    this.observer?.(bytes);
  }

  /** The message so far is over the size limit (what is still to come is only counted). */
  get oversize(): boolean {
    return this.size > this.maxBytes;
  }

  /** After the last chunk: the message, as the DATA reader gives it. */
  result(): DataResult {
    if (this.crPending) {
      // The message ended on a CR: a bare one.
      this.crPending = false;
      this.bareLineEndings++;
      if (this.bareLineEndingPolicy === 'normalize') this.add(LONE_LF);
    }
    return readerResult(this.keepMessage ? this.pieces : undefined, this.size, this.maxBytes, this.bareLineEndings, this.eightBit);
  }
}
