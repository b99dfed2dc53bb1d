// RFC 2047 encoded words: decoding (B and Q, adjacent words of stateless charsets joined, lenient about
// words glued to text) and encoding of non-ASCII header text for the builder.

import { concatBytes, utf8Encode } from './bytes.js';
import { decodeText, normalizeCharset } from './charset.js';
import { decodeBase64 } from './transfer-encoding.js';

// Charset may carry an RFC 2231 language suffix (utf-8*en); Q text never contains '?'.
const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=/g;

/** A run of adjacent encoded words in one charset whose bytes are decoded together. */
interface WordRun {
  charset: string;
  chunks: Uint8Array[];
  length: number;
}

function decodeQ(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x5f) out.push(0x20);
    else if (ch === 0x3d && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (ch < 0x80) out.push(ch);
    else for (const b of utf8Encode(text[i]!)) out.push(b);
  }
  return Uint8Array.from(out);
}

function charsetOf(label: string): string {
  const star = label.indexOf('*');
  return (star >= 0 ? label.slice(0, star) : label).toLowerCase();
}

/**
 * Stateful encodings (ISO-2022-*, HZ, UTF-7) start and end every encoded word in their initial
 * state, so each word is complete and is decoded on its own: joining them puts an escape
 * sequence right after another, which decoders rightly report as an error (U+FFFD).
 */
function isStateful(charset: string): boolean {
  const name = normalizeCharset(charset);
  return name.startsWith('iso-2022-') || name === 'hz-gb-2312' || name === 'utf-7';
}

/**
 * Decodes every encoded word in a header value. Whitespace between two adjacent encoded
 * words is dropped (RFC 2047 §6.2). Each encoded word is decoded on its own (RFC 2047 §5),
 * except that the bytes of adjacent words in the same stateless charset are joined before
 * decoding, so a multi-byte UTF-8 or Shift_JIS character split across words survives.
 * Linear in the length of the value: a run's bytes are collected and copied once.
 */
export function decodeEncodedWords(value: string): string {
  if (value.indexOf('=?') < 0) return value;
  let out = '';
  let last = 0;
  let run: WordRun | null = null;
  const flush = (): void => {
    if (run) out += decodeText(concatBytes(run.chunks, run.length), run.charset);
    run = null;
  };
  ENCODED_WORD.lastIndex = 0;
  for (let m = ENCODED_WORD.exec(value); m; m = ENCODED_WORD.exec(value)) {
    const charset = charsetOf(m[1]!);
    const bytes = m[2] === 'b' || m[2] === 'B' ? decodeBase64(m[3]!) : decodeQ(m[3]!);
    const adjacent = run !== null && isBlank(value, last, m.index);
    if (!adjacent) {
      flush();
      out += value.slice(last, m.index);
    }
    const current = run as WordRun | null;
    if (current && current.charset === charset && !isStateful(charset)) {
      current.chunks.push(bytes);
      current.length += bytes.length;
    } else {
      flush();
      run = { charset, chunks: [bytes], length: bytes.length };
    }
    last = m.index + m[0].length;
  }
  flush();
  return out + value.slice(last);
}

/** True when value[from, to) is only white space (RFC 2047 §6.2 linear-white-space). */
function isBlank(value: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = value.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return false;
  }
  return true;
}

const SAFE_Q = /^[A-Za-z0-9!*+\-/ ]$/;

/** Not printable ASCII, or contains `=?` (text that could be read as an encoded word, RFC 2047 §5). */
export function needsEncoding(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[^\x20-\x7e]|=\?/.test(text);
}

/**
 * Encodes text as UTF-8 encoded words of at most 75 characters each (RFC 2047 §2), never
 * splitting a character. Uses Q when most of the text is ASCII, B otherwise. ASCII text
 * without `=?` is returned unchanged unless `force` is set.
 */
export function encodeEncodedWords(text: string, force = false): string {
  if (!force && !needsEncoding(text)) return text;
  const chars = Array.from(text);
  const nonAscii = chars.filter((c) => c.charCodeAt(0) >= 0x80).length;
  const useQ = nonAscii * 3 < chars.length;
  const prefix = useQ ? '=?UTF-8?Q?' : '=?UTF-8?B?';
  const budget = 75 - prefix.length - 2;
  const words: string[] = [];
  let current: string[] = [];
  let currentLen = 0;
  const encodedLength = (bytes: Uint8Array, c: string): number =>
    useQ ? (bytes.length === 1 && SAFE_Q.test(c) ? 1 : bytes.length * 3) : 0;
  const finish = (): void => {
    if (!current.length) return;
    const payload = current.join('');
    const body = useQ ? encodeQText(payload) : Buffer.from(payload, 'utf8').toString('base64');
    words.push(prefix + body + '?=');
    current = [];
    currentLen = 0;
  };
  for (const c of chars) {
    const bytes = utf8Encode(c);
    if (useQ) {
      const len = encodedLength(bytes, c);
      if (currentLen + len > budget) finish();
      currentLen += len;
    } else {
      const byteLen = current.reduce((n, s) => n + Buffer.byteLength(s), 0) + bytes.length;
      if (Math.ceil(byteLen / 3) * 4 > budget) finish();
    }
    current.push(c);
  }
  finish();
  return words.join(' ');
}

function encodeQText(text: string): string {
  let out = '';
  for (const c of Array.from(text)) {
    if (c === ' ') out += '_';
    else if (SAFE_Q.test(c)) out += c;
    else for (const b of utf8Encode(c)) out += '=' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}
