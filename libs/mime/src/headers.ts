// RFC 5322 header section: line classification, unfolding, ordered field lists with
// raw and unfolded values, and case-insensitive lookup. Names are plain strings kept
// in arrays, so `__proto__` or `constructor` are ordinary header names.

import { CR, LF, asBuffer, headerBytesToString, toBytes } from './bytes.js';
import { decodeEncodedWords } from './encoded-word.js';
import { LoneCrLineEndings } from './line-endings.js';

export interface HeaderField {
  /** The field name as written (case preserved). */
  name: string;
  /** Unfolded value: line breaks of folding removed, outer whitespace trimmed, not RFC 2047 decoded. */
  value: string;
  /** The whole field as written, name and folding included, lines joined with CRLF. */
  raw: string;
}

export type HeaderLineResult = 'field' | 'blank' | 'not-a-header';

/** Accumulates header lines (without their line break) into fields, RFC 5322 §2.2. */
export class HeaderBlockReader {
  readonly fields: HeaderField[] = [];
  readonly defects: string[] = [];
  private lines: string[] = [];
  private first = true;

  /** Classifies and stores one line; `blank` and `not-a-header` end the header section. */
  addLine(line: Uint8Array): HeaderLineResult {
    const len = line.length;
    if (len === 0) {
      this.finishField();
      return 'blank';
    }
    const c0 = line[0]!;
    if (c0 === 0x20 || c0 === 0x09) {
      if (this.lines.length) {
        this.lines.push(headerBytesToString(line));
        return 'field';
      }
      // Folded line with nothing to continue: RFC 5322 has no meaning for it; skip it.
      if (this.first) this.defects.push('FirstHeaderLineIsContinuation');
      else this.defects.push('OrphanContinuationLine');
      this.first = false;
      return 'field';
    }
    if (this.first && isMboxFromLine(line)) {
      this.first = false;
      return 'field';
    }
    this.first = false;
    if (!looksLikeField(line)) {
      this.finishField();
      this.defects.push('MissingHeaderBodySeparator');
      return 'not-a-header';
    }
    this.finishField();
    this.lines.push(headerBytesToString(line));
    return 'field';
  }

  /** Name of the field being read ('' between fields). */
  currentFieldName(): string {
    const first = this.lines[0];
    if (first === undefined) return '';
    return first.slice(0, first.indexOf(':')).trimEnd();
  }

  /** Ends the last field (call at end of input). */
  finish(): HeaderField[] {
    this.finishField();
    return this.fields;
  }

  private finishField(): void {
    if (!this.lines.length) return;
    const lines = this.lines;
    this.lines = [];
    const first = lines[0]!;
    const colon = first.indexOf(':');
    const name = first.slice(0, colon).trimEnd();
    let value = first.slice(colon + 1);
    for (let i = 1; i < lines.length; i++) value += lines[i];
    this.fields.push({ name, value: value.trim(), raw: lines.join('\r\n') });
  }
}

function isMboxFromLine(line: Uint8Array): boolean {
  return line.length >= 5 && line[0] === 0x46 && line[1] === 0x72 && line[2] === 0x6f && line[3] === 0x6d && line[4] === 0x20;
}

/** field-name = 1*(%d33-57 / %d59-126), then optional WSP (obs-optional), then ':'. */
function looksLikeField(line: Uint8Array): boolean {
  let i = 0;
  const n = line.length;
  while (i < n) {
    const c = line[i]!;
    if (c === 0x3a) return i > 0;
    if (c < 33 || c > 126) break;
    i++;
  }
  if (i === 0) return false;
  while (i < n && (line[i] === 0x20 || line[i] === 0x09)) i++;
  return i < n && line[i] === 0x3a;
}

export interface ParsedHeaderBlock {
  headers: HeaderField[];
  /** Offset of the first body byte (after the blank line), or where a non-header line starts. */
  bodyOffset: number;
  defects: string[];
}

/** Reads the header section at the start of `input` up to the blank line that ends it. */
export function parseHeaderBlock(input: Uint8Array | string): ParsedHeaderBlock {
  // lone CR line breaks become LF; the length (and so bodyOffset) is unchanged
  const lineEndings = new LoneCrLineEndings();
  const head = lineEndings.write(asBuffer(toBytes(input)));
  const tail = lineEndings.end();
  const bytes = tail.length ? Buffer.concat([head, tail]) : head;
  const reader = new HeaderBlockReader();
  let pos = 0;
  const n = bytes.length;
  if (n >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) pos = 3;
  while (pos < n) {
    let nl = bytes.indexOf(LF, pos);
    const lineEnd = nl < 0 ? n : nl;
    const next = nl < 0 ? n : nl + 1;
    const contentEnd = lineEnd > pos && bytes[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
    const result = reader.addLine(bytes.subarray(pos, contentEnd));
    if (result === 'blank') return { headers: reader.finish(), bodyOffset: next, defects: reader.defects };
    if (result === 'not-a-header') return { headers: reader.finish(), bodyOffset: pos, defects: reader.defects };
    pos = next;
    nl = -1;
  }
  return { headers: reader.finish(), bodyOffset: n, defects: reader.defects };
}

/** The ordered list of header fields of a message or header block (bytes or text). */
export function parseHeaders(input: Uint8Array | string): HeaderField[] {
  return parseHeaderBlock(input).headers;
}

/** All fields with this name, case-insensitively, in order. */
export function getHeaders(headers: readonly HeaderField[], name: string): HeaderField[] {
  const wanted = name.toLowerCase();
  return headers.filter((h) => h.name.toLowerCase() === wanted);
}

/** The first field's unfolded value; the first occurrence wins, as in most MUAs. */
export function getHeader(headers: readonly HeaderField[], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const h of headers) if (h.name.toLowerCase() === wanted) return h.value;
  return undefined;
}

/** The first field's value with RFC 2047 encoded words decoded. */
export function getDecodedHeader(headers: readonly HeaderField[], name: string): string | undefined {
  const value = getHeader(headers, name);
  return value === undefined ? undefined : decodeEncodedWords(value);
}

export function countHeader(headers: readonly HeaderField[], name: string): number {
  const wanted = name.toLowerCase();
  let count = 0;
  for (const h of headers) if (h.name.toLowerCase() === wanted) count++;
  return count;
}
