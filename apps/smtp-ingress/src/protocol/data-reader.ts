// The DATA phase reader (RFC 5321 §4.1.1.4, §4.5.2): removes dot-stuffing and finds the end of data.
// Only <CRLF>.<CRLF> ends the data; a bare LF or CR never does (the "SMTP smuggling" class of attacks),
// and each one is counted so the session can refuse the message or, if configured, normalise it to CRLF.
// Bytes past the size limit are counted and dropped, so an oversize message is never held in memory.
// The bytes are held as views of the input, copied once, at the end.

import { isAscii } from 'node:buffer';

export type BareLineEndingPolicy = 'reject' | 'normalize';

export interface DataResult {
  /** The message as received, dot-stuffing removed. Empty when oversize. */
  message: Buffer;
  size: number;
  oversize: boolean;
  bareLineEndings: number;
  /** True if any octet has the high bit set (matters without 8BITMIME). */
  eightBit: boolean;
}

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = Buffer.from('\r\n');
const LONE_LF = Buffer.from('\n');
const LONE_CR = Buffer.from('\r');

const enum State {
  LineStart,
  InLine,
  SawCr,
  DotAtLineStart,
  DotCr,
}

export class DataReader {
  private state = State.LineStart;
  /**
   * The message so far, as views of the input (no copy until result()): a run of content spans lines,
   * CRLFs included, and is cut only where the input and the message differ — a stuffing dot, the
   * terminator, a bare line ending rewritten. Socket reads are never reused, so holding views is safe.
   */
  private pieces: Buffer[] = [];
  private size = 0;
  private bareLineEndings = 0;
  private eightBit = false;

  /**
   * `observer`, when given, sees what each push added to the message, in order, piece by piece, as views
   * of the bytes held here (the mail authentication checks hash the body as it streams, without a
   * copy); it sees nothing once the message is over the size limit.
   */
  constructor(
    private readonly maxBytes: number,
    private readonly bareLineEndingPolicy: BareLineEndingPolicy,
    private readonly observer?: (piece: Buffer) => void,
    /** false: the observer takes the message away as it comes (result() has no message then). */
    private readonly keepMessage = true,
  ) {}

  /**
   * Consumes input; returns the number of bytes used when the terminator was found (the rest belongs
   * to the command stream), or -1 when more data is needed.
   */
  push(input: Buffer): number {
    const from = this.pieces.length;
    const used = this.consume(input);
    if (this.observer && this.size <= this.maxBytes) for (let i = from; i < this.pieces.length; i++) this.observer(this.pieces[i]!);
    if (!this.keepMessage) this.pieces = []; // the observer has taken them
    return used;
  }

  private consume(input: Buffer): number {
    let runStart = 0;
    const normalize = this.bareLineEndingPolicy === 'normalize';
    // A CR that ended the previous input was held back (not yet known to be a line end or a lone CR).
    const crHeld = this.state === State.SawCr;
    // Where the next CR and LF are, found with the native search and kept until passed (a message
    // without CRs must not be searched to its end again on every line).
    let nextCr = -2;
    let nextLf = -2;
    for (let i = 0; i < input.length; i++) {
      if (this.state === State.InLine) {
        // Inside a line only CR and LF matter: jump to the next one (most bytes are never looked at here).
        if (nextCr !== -1 && nextCr < i) nextCr = input.indexOf(CR, i);
        if (nextLf !== -1 && nextLf < i) nextLf = input.indexOf(LF, i);
        const next = nextCr === -1 ? nextLf : nextLf === -1 ? nextCr : Math.min(nextCr, nextLf);
        if (next === -1) break;
        i = next;
      }
      const byte = input[i]!;
      switch (this.state) {
        case State.LineStart:
          if (byte === DOT) {
            // Either dot-stuffing or the terminator: never content. The run so far ends before it.
            this.take(input, runStart, i);
            this.state = State.DotAtLineStart;
            runStart = i + 1;
            continue;
          }
          break;
        case State.DotAtLineStart:
          if (byte === CR) {
            // Held back: with an LF next it is the terminator's.
            this.state = State.DotCr;
            runStart = i + 1;
            continue;
          }
          break; // the dot was stuffing; this byte is content
        case State.DotCr:
          if (byte === LF) {
            this.state = State.LineStart;
            this.noteEightBit(input, i + 1);
            return i + 1;
          }
          // ".<CR>x": stuffing, then a lone CR (the one held back, written here)
          this.bareLineEndings++;
          this.add(normalize ? CRLF : LONE_CR);
          runStart = i;
          break;
        case State.SawCr:
          if (crHeld && i === 0) {
            // The held CR, written now that the next byte tells what it was.
            if (byte !== LF) this.bareLineEndings++;
            this.add(byte === LF || normalize ? CRLF : LONE_CR);
            runStart = byte === LF ? 1 : 0;
            if (byte === LF) {
              this.state = State.LineStart;
              continue;
            }
            break;
          }
          if (byte === LF) {
            this.state = State.LineStart; // a line end, part of the run
            continue;
          }
          // The CR before this byte was a lone one (it is in the run already): normalising adds its LF.
          this.bareLineEndings++;
          if (normalize) {
            this.take(input, runStart, i);
            this.add(LONE_LF);
            runStart = i;
          }
          break;
        case State.InLine:
          break;
      }
      if (byte === CR) {
        this.state = State.SawCr;
      } else if (byte === LF) {
        // A bare LF is not a line end: "<LF>.<LF>" or "<LF>.<CR><LF>" can never end the data.
        this.bareLineEndings++;
        if (normalize) {
          this.take(input, runStart, i);
          this.add(LONE_CR); // the LF itself starts the next run
          runStart = i;
        }
        this.state = State.InLine;
      } else {
        this.state = State.InLine;
      }
    }
    // A CR at the very end is held back until the next input says what it is.
    this.take(input, runStart, this.state === State.SawCr ? input.length - 1 : input.length);
    this.noteEightBit(input, input.length);
    return -1;
  }

  /** Whether the bytes used so far of this input have the high bit set (checked natively, once per input). */
  private noteEightBit(input: Buffer, used: number): void {
    if (!this.eightBit && !isAscii(input.subarray(0, used))) this.eightBit = true;
  }

  private take(input: Buffer, start: number, end: number): void {
    if (end > start) this.add(input.subarray(start, end));
  }

  private add(bytes: Buffer): void {
    this.size += bytes.length;
    if (this.size > this.maxBytes) {
      this.pieces = []; // oversize: drop what we held, count the rest
      return;
    }
    this.pieces.push(bytes);
  }

  result(): DataResult {
    return readerResult(this.keepMessage ? this.pieces : undefined, this.size, this.maxBytes, this.bareLineEndings, this.eightBit);
  }
}

/**
 * What a reader found, its message joined from the pieces it kept (one copy) — none when it kept none or
 * the message is over the size limit.
 */
export function readerResult(pieces: Buffer[] | undefined, size: number, maxBytes: number, bareLineEndings: number, eightBit: boolean): DataResult {
  const oversize = size > maxBytes;
  return {
    message: oversize || !pieces ? Buffer.alloc(0) : pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, size),
    size,
    oversize,
    bareLineEndings,
    eightBit,
  };
}
