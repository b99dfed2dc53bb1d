// Content-Transfer-Encoding (RFC 2045 §6): streaming decoders for base64 and
// quoted-printable, the identity codings, and the encoders the builder uses.

import { CR, LF } from './bytes.js';

export type TransferEncoding = '7bit' | '8bit' | 'binary' | 'base64' | 'quoted-printable';

/** A decoder turns encoded chunks into decoded chunks; `end()` flushes what it held back. */
export interface TransferDecoder {
  write(chunk: Uint8Array): Uint8Array;
  end(): Uint8Array;
  /** Defect names seen so far (e.g. invalid base64 characters). */
  readonly defects: string[];
}

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
// 0-63 = value, 64 = padding, 65 = whitespace (silently skipped), 66 = other (skipped with a defect)
const B64_VALUE = new Uint8Array(256).fill(66);
for (let i = 0; i < 64; i++) B64_VALUE[B64_ALPHABET.charCodeAt(i)] = i;
B64_VALUE[0x3d] = 64;
for (const ws of [0x20, 0x09, 0x0d, 0x0a]) B64_VALUE[ws] = 65;
const EMPTY = new Uint8Array(0);
/** Encoded bytes turned into one string at a time by the base64 fast path. */
const BASE64_SLICE = 256 * 1024;

/** RFC 2045 §6.8: characters outside the alphabet are ignored; missing padding is tolerated. */
export class Base64Decoder implements TransferDecoder {
  readonly defects: string[] = [];
  private acc = 0;
  private bits = 0;
  private sawInvalid = false;
  private done = false;
  private pads = 0;

  write(chunk: Uint8Array): Uint8Array {
    if (this.done) return EMPTY;
    if (this.bits === 0) {
      const fast = this.writeWellFormed(chunk);
      if (fast) return fast;
    }
    const out = new Uint8Array(((chunk.length + 3) >> 2) * 3 + 3);
    let o = 0;
    let acc = this.acc;
    let bits = this.bits;
    let pads = this.pads;
    for (let i = 0; i < chunk.length; i++) {
      const v = B64_VALUE[chunk[i]!]!;
      if (v < 64) {
        pads = 0;
        acc = ((acc << 6) | v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          out[o++] = (acc >> bits) & 0xff;
        }
      } else if (v === 64) {
        // RFC 2045 §6.8: padding marks the end of the data. Only a complete pad ends it
        // ("xx==" or "xxx="); a lone '=' elsewhere is noise and ignored.
        pads++;
        const quadPos = bits === 6 ? 1 : bits === 4 ? 2 : bits === 2 ? 3 : 0;
        if (quadPos >= 2 && quadPos + pads >= 4) {
          this.done = true;
          break;
        }
      } else if (v === 66 && !this.sawInvalid) {
        this.sawInvalid = true;
        this.defects.push('InvalidBase64Characters');
      }
    }
    this.acc = acc;
    this.bits = bits;
    this.pads = pads;
    return out.subarray(0, o);
  }

  /**
   * Fast path: a chunk of whole quanta with only alphabet characters and line breaks (padding
   * only at its very end) decodes natively with the same result as the loop below. A large
   * chunk is decoded slice by slice (each a whole number of quanta) straight into the output,
   * so no string of the whole chunk is ever made (a 20 MB body would need a 20 MB string).
   */
  private writeWellFormed(chunk: Uint8Array): Uint8Array | null {
    let count = 0;
    let padAt = -1;
    const cuts: number[] = [];
    let lastCut = 0;
    for (let i = 0; i < chunk.length; i++) {
      const v = B64_VALUE[chunk[i]!]!;
      if (v < 64) {
        if (padAt >= 0) return null;
        count++;
        if ((count & 3) === 0 && i + 1 - lastCut >= BASE64_SLICE) {
          lastCut = i + 1;
          cuts.push(lastCut);
        }
      } else if (v === 64) {
        if (padAt < 0) padAt = count;
        count++;
      } else if (v !== 65) return null;
    }
    if (count % 4 !== 0) return null;
    if (padAt >= 0) {
      if (count - padAt > 2 || padAt % 4 < 2) return null;
      this.done = true;
    }
    const input = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (!cuts.length) return Buffer.from(input.toString('latin1'), 'base64');
    const out = Buffer.allocUnsafe((count / 4) * 3);
    let written = 0;
    let from = 0;
    for (const to of [...cuts, input.length]) {
      if (to > from) written += out.write(input.toString('latin1', from, to), written, 'base64');
      from = to;
    }
    return out.subarray(0, written);
  }

  end(): Uint8Array {
    if (this.bits >= 6) this.defects.push('InvalidBase64Length');
    this.bits = 0;
    return EMPTY;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/**
 * RFC 2045 §6.7: `=XX` is a byte, `=` at the end of a line is a soft break. Invalid escapes are
 * kept literally (rule 1 leniency) and line breaks are passed through unchanged.
 */
export class QuotedPrintableDecoder implements TransferDecoder {
  readonly defects: string[] = [];
  private carry: Uint8Array = EMPTY;

  write(input: Uint8Array): Uint8Array {
    let chunk = input;
    if (this.carry.length) {
      const joined = new Uint8Array(this.carry.length + input.length);
      joined.set(this.carry);
      joined.set(input, this.carry.length);
      chunk = joined;
      this.carry = EMPTY;
    }
    const out = new Uint8Array(chunk.length);
    let o = 0;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const c = chunk[i]!;
      if (c !== 0x3d) {
        out[o++] = c;
        i++;
        continue;
      }
      // '=': decide between an escape, a soft break, or a literal '='; hold back if the
      // chunk ends before we can tell
      if (i + 2 < n || (i + 2 === n && chunk[i + 1] === LF)) {
        const hi = hexValue(chunk[i + 1]!);
        const lo = i + 2 < n ? hexValue(chunk[i + 2]!) : -1;
        if (hi >= 0 && lo >= 0) {
          out[o++] = (hi << 4) | lo;
          i += 3;
          continue;
        }
      }
      let j = i + 1;
      while (j < n && (chunk[j] === 0x20 || chunk[j] === 0x09)) j++;
      const undecided = j >= n || (chunk[j] === CR && j + 1 >= n) || (i + 2 >= n && j === i + 1 && hexValue(chunk[j]!) >= 0);
      if (undecided && n - i <= 1024) {
        this.carry = chunk.slice(i);
        break;
      }
      if (chunk[j] === LF) {
        i = j + 1;
        continue;
      }
      if (chunk[j] === CR && chunk[j + 1] === LF) {
        i = j + 2;
        continue;
      }
      out[o++] = c;
      i++;
    }
    return out.subarray(0, o);
  }

  end(): Uint8Array {
    const rest = this.carry;
    this.carry = EMPTY;
    if (!rest.length) return EMPTY;
    // '=' at the very end is a soft break; anything else is kept as written
    let k = 1;
    while (k < rest.length && (rest[k] === 0x20 || rest[k] === 0x09 || rest[k] === CR)) k++;
    if (k === rest.length) return EMPTY;
    return rest;
  }
}

/**
 * uuencode (x-uuencode, uue): lines between `begin <mode> <name>` and `end`, each starting with
 * a length character. Not a MIME coding, but common in old mail; decoded line by line.
 */
export class UudecodeDecoder implements TransferDecoder {
  readonly defects: string[] = [];
  private carry = '';
  private state: 'before' | 'data' | 'done' = 'before';

  write(chunk: Uint8Array): Uint8Array {
    const text = this.carry + Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    const lastNl = text.lastIndexOf('\n');
    this.carry = text.slice(lastNl + 1);
    return this.decodeLines(text.slice(0, lastNl + 1));
  }

  end(): Uint8Array {
    const rest = this.carry;
    this.carry = '';
    return this.decodeLines(rest);
  }

  private decodeLines(text: string): Uint8Array {
    const out: number[] = [];
    for (const rawLine of text.split('\n')) {
      const line = rawLine.replace(/\r$/, '');
      if (this.state === 'before') {
        if (/^begin\s/.test(line)) this.state = 'data';
        continue;
      }
      if (this.state === 'done') break;
      if (line === 'end' || line.length === 0) {
        if (line === 'end') this.state = 'done';
        continue;
      }
      const count = (line.charCodeAt(0) - 32) & 63;
      if (count === 0) continue;
      let produced = 0;
      for (let i = 1; produced < count; i += 4) {
        const c = [0, 1, 2, 3].map((k) => ((line.charCodeAt(i + k) || 32) - 32) & 63);
        const bytes = [(c[0]! << 2) | (c[1]! >> 4), ((c[1]! & 15) << 4) | (c[2]! >> 2), ((c[2]! & 3) << 6) | c[3]!];
        for (const b of bytes) if (produced++ < count) out.push(b);
      }
    }
    return Uint8Array.from(out);
  }
}

export class IdentityDecoder implements TransferDecoder {
  readonly defects: string[] = [];
  write(chunk: Uint8Array): Uint8Array {
    return chunk;
  }
  end(): Uint8Array {
    return EMPTY;
  }
}

/** Normalised CTE token: lowercased and trimmed; unknown values come back unchanged. */
export function normalizeTransferEncoding(value: string | undefined): string {
  return (value ?? '').trim().toLowerCase();
}

/** A decoder for the CTE; unknown codings (x-foo, "7-bit") pass the bytes through untouched. */
export function createTransferDecoder(cte: string | undefined): TransferDecoder {
  switch (normalizeTransferEncoding(cte)) {
    case 'base64':
      return new Base64Decoder();
    case 'quoted-printable':
      return new QuotedPrintableDecoder();
    case 'x-uuencode':
    case 'uuencode':
    case 'x-uue':
    case 'uue':
      return new UudecodeDecoder();
    default:
      return new IdentityDecoder();
  }
}

export function decodeBase64(input: Uint8Array | string): Uint8Array {
  const d = new Base64Decoder();
  return d.write(typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
}

export function decodeQuotedPrintable(input: Uint8Array | string): Uint8Array {
  const d = new QuotedPrintableDecoder();
  const head = d.write(typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
  const tail = d.end();
  if (!tail.length) return head;
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}

/** Base64 with CRLF every 76 characters (RFC 2045 §6.8). */
export function encodeBase64Lines(bytes: Uint8Array, lineLength = 76): string {
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  if (b64.length <= lineLength) return b64;
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += lineLength) lines.push(b64.slice(i, i + lineLength));
  return lines.join('\r\n');
}

const HEX = '0123456789ABCDEF';

/**
 * Quoted-printable with CRLF line breaks kept as hard breaks, soft breaks before 76 characters,
 * and trailing whitespace encoded so transport cannot strip it (RFC 2045 §6.7 rules 3-5).
 */
export function encodeQuotedPrintable(bytes: Uint8Array, maxLine = 76): string {
  const parts: string[] = [];
  let line = '';
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!;
    if (c === CR && bytes[i + 1] === LF) {
      parts.push(line, '\r\n');
      line = '';
      i++;
      continue;
    }
    if (c === LF) {
      parts.push(line, '\r\n');
      line = '';
      continue;
    }
    const atLineEnd = i + 1 >= n || bytes[i + 1] === CR || bytes[i + 1] === LF;
    let token: string;
    if ((c >= 33 && c <= 126 && c !== 0x3d) || ((c === 0x20 || c === 0x09) && !atLineEnd)) {
      token = String.fromCharCode(c);
    } else {
      token = '=' + HEX[c >> 4] + HEX[c & 15];
    }
    if (line.length + token.length > maxLine - 1) {
      parts.push(line, '=\r\n');
      line = '';
    }
    line += token;
  }
  parts.push(line);
  return parts.join('');
}
