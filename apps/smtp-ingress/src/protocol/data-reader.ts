// The DATA phase reader (RFC 5321 §4.1.1.4, §4.5.2): removes dot-stuffing and finds the end of data.
// Only <CRLF>.<CRLF> ends the data; a bare LF or CR never does (the "SMTP smuggling" class of attacks),
// and each one is counted so the session can refuse the message or, if configured, normalise it to CRLF.
// Bytes past the size limit are counted and dropped, so an oversize message is never held in memory.

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
  private buffer = Buffer.allocUnsafe(16 * 1024);
  private length = 0;
  private size = 0;
  private bareLineEndings = 0;
  private eightBit = false;

  /**
   * `observer`, when given, sees what each push added to the message, in order, as a view of the bytes
   * held here (the mail authentication checks hash the body as it streams, without a copy); it sees
   * nothing once the message is over the size limit.
   */
  constructor(
    private readonly maxBytes: number,
    private readonly bareLineEndingPolicy: BareLineEndingPolicy,
    private readonly observer?: (piece: Buffer) => void,
  ) {}

  /**
   * Consumes input; returns the number of bytes used when the terminator was found (the rest belongs
   * to the command stream), or -1 when more data is needed. Line endings are written by the state
   * machine itself; runs of other bytes are copied as they are.
   */
  push(input: Buffer): number {
    const from = this.length;
    const used = this.consume(input);
    if (this.observer && this.size <= this.maxBytes && this.length > from) this.observer(this.buffer.subarray(from, this.length));
    return used;
  }

  private consume(input: Buffer): number {
    let runStart = 0;
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
            // Either dot-stuffing or the terminator: never content.
            this.state = State.DotAtLineStart;
            runStart = i + 1;
            continue;
          }
          break;
        case State.DotAtLineStart:
          if (byte === CR) {
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
          this.bareLineEnding(LONE_CR); // ".<CR>x": stuffing, then a lone CR
          runStart = i;
          break;
        case State.SawCr:
          if (byte === LF) {
            this.append(CRLF);
            this.state = State.LineStart;
            runStart = i + 1;
            continue;
          }
          this.bareLineEnding(LONE_CR);
          runStart = i;
          break;
        case State.InLine:
          break;
      }
      if (byte === CR) {
        this.copy(input, runStart, i);
        this.state = State.SawCr;
        runStart = i + 1;
      } else if (byte === LF) {
        // A bare LF is not a line end: "<LF>.<LF>" or "<LF>.<CR><LF>" can never end the data.
        this.copy(input, runStart, i);
        this.bareLineEnding(LONE_LF);
        this.state = State.InLine;
        runStart = i + 1;
      } else {
        this.state = State.InLine;
      }
    }
    this.copy(input, runStart, input.length);
    this.noteEightBit(input, input.length);
    return -1;
  }

  /** Whether the bytes used so far of this input have the high bit set (checked natively, once per input). */
  private noteEightBit(input: Buffer, used: number): void {
    if (!this.eightBit && !isAscii(input.subarray(0, used))) this.eightBit = true;
  }

  private bareLineEnding(ending: Buffer): void {
    this.bareLineEndings++;
    this.append(this.bareLineEndingPolicy === 'normalize' ? CRLF : ending);
  }

  private copy(input: Buffer, start: number, end: number): void {
    if (end > start) this.append(input.subarray(start, end));
  }

  private append(bytes: Buffer): void {
    this.size += bytes.length;
    if (this.size > this.maxBytes) {
      this.buffer = Buffer.alloc(0); // oversize: drop what we held, count the rest
      this.length = 0;
      return;
    }
    if (this.length + bytes.length > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(this.buffer.length * 2, this.length + bytes.length), this.maxBytes));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    bytes.copy(this.buffer, this.length);
    this.length += bytes.length;
  }

  result(): DataResult {
    const oversize = this.size > this.maxBytes;
    return {
      message: oversize ? Buffer.alloc(0) : this.buffer.subarray(0, this.length),
      size: this.size,
      oversize,
      bareLineEndings: this.bareLineEndings,
      eightBit: this.eightBit,
    };
  }
}
