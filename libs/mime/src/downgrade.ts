// 8-bit to 7-bit downgrade (RFC 6152 peers without 8BITMIME): 8bit/binary leaves are
// re-encoded as quoted-printable (text) or base64, raw 8-bit header text becomes RFC 2047
// encoded words; structure, boundaries and 7-bit parts are kept.

import { isAscii, utf8Encode } from './bytes.js';
import { encodeEncodedWords } from './encoded-word.js';
import { foldHeader, formatParam } from './fold.js';
import type { Params } from './params.js';
import { encodeBase64Lines, encodeQuotedPrintable } from './transfer-encoding.js';
import { parseMessage, type MimePart } from './tree.js';

export interface DowngradeResult {
  message: Uint8Array;
  /** Header fields that could not be made 7-bit (e.g. a UTF-8 local part needs SMTPUTF8). */
  problems: string[];
  /**
   * Entities whose type had to change: a multipart without a boundary (or another composite
   * type kept as a leaf) with 8-bit content cannot be base64 encoded under its own type (RFC
   * 2045 §6.4), so it becomes application/octet-stream. Entries read `path: old/type`.
   */
  retyped: string[];
}

const NON_ASCII = /[^\x00-\x7f]/;

/** Encodes runs of words that contain non-ASCII characters; addresses are left alone. */
function downgradeHeaderValue(value: string, problems: string[], name: string): string {
  const words = value.split(/([ \t]+)/);
  const out: string[] = [];
  let run: string[] = [];
  const flush = (): void => {
    if (!run.length) return;
    const text = run.join('');
    const trimmedEnd = text.replace(/[ \t]+$/, '');
    out.push(encodeEncodedWords(trimmedEnd) + text.slice(trimmedEnd.length));
    run = [];
  };
  for (const w of words) {
    if (NON_ASCII.test(w) && !/[<>@"]/.test(w)) run.push(w);
    else if (run.length && /^[ \t]+$/.test(w)) run.push(w);
    else {
      flush();
      if (NON_ASCII.test(w)) problems.push(name);
      out.push(w);
    }
  }
  flush();
  return out.join('');
}

function withParams(value: string, params: Params): string {
  let out = value;
  for (const [name, v] of Object.entries(params)) out += formatParam(name, v);
  return out;
}

function writeHeaders(part: MimePart, newCte: string | null, problems: string[], out: string[], newType: string | null = null): void {
  let typeSeen = false;
  let dispositionSeen = false;
  for (const field of part.headers) {
    const name = field.name.toLowerCase();
    if (newCte && name === 'content-transfer-encoding') continue;
    if (name === 'content-type' && !typeSeen) {
      typeSeen = true;
      if (newType) continue;
      // 8-bit parameter values (name="Übersicht.txt") become RFC 2231 values, which are 7-bit
      if (NON_ASCII.test(field.raw) && !part.contentType.defaulted) {
        out.push(foldHeader(field.name, withParams(part.contentType.mimeType, part.contentType.params)));
        continue;
      }
    }
    if (name === 'content-disposition' && !dispositionSeen) {
      dispositionSeen = true;
      if (NON_ASCII.test(field.raw) && /^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(part.disposition.type)) {
        out.push(foldHeader(field.name, withParams(part.disposition.type, part.disposition.params)));
        continue;
      }
    }
    if (!NON_ASCII.test(field.raw)) out.push(field.raw);
    else out.push(foldHeader(field.name, downgradeHeaderValue(field.value, problems, field.name)));
  }
  if (newType) out.push(`Content-Type: ${newType}`);
  if (newCte) out.push(`Content-Transfer-Encoding: ${newCte}`);
}

interface Report {
  problems: string[];
  retyped: string[];
}

function writeEntity(part: MimePart, report: Report, chunks: Uint8Array[]): void {
  const problems = report.problems;
  const head: string[] = [];
  if (part.kind === 'leaf') {
    const cte = part.transferEncoding;
    let body: string | Uint8Array = part.content;
    let newCte: string | null = null;
    let newType: string | null = null;
    const composite = part.contentType.type === 'multipart' || part.contentType.type === 'message';
    if (cte === 'base64') body = encodeBase64Lines(part.content);
    else if (cte === 'quoted-printable') body = encodeQuotedPrintable(part.content);
    else if (!isAscii(part.content) || cte === '8bit' || cte === 'binary') {
      newCte = part.contentType.type === 'text' ? 'quoted-printable' : 'base64';
      body = newCte === 'base64' ? encodeBase64Lines(part.content) : encodeQuotedPrintable(part.content);
      if (composite) {
        // RFC 2045 §6.4: a multipart or message entity is never base64 or quoted-printable;
        // this one could not be read as such (no boundary, or past the depth limit), so it is
        // sent as the opaque data it is
        newType = 'application/octet-stream';
        report.retyped.push(`${part.path}: ${part.contentType.mimeType}`);
      }
    }
    writeHeaders(part, newCte, problems, head, newType);
    chunks.push(utf8Encode(head.join('\r\n') + '\r\n\r\n'));
    chunks.push(typeof body === 'string' ? Buffer.from(body, 'latin1') : body);
    return;
  }
  // A message/rfc822 or multipart is written part by part, each now 7-bit: say so. This also
  // mends a message/rfc822 that arrived base64 or quoted-printable encoded (RFC 2046 §5.2.1
  // allows only 7bit, 8bit and binary; it was decoded when parsed).
  const cte = part.transferEncoding;
  const relabel = cte !== '' && cte !== '7bit' ? '7bit' : null;
  writeHeaders(part, relabel, problems, head);
  chunks.push(utf8Encode(head.join('\r\n') + '\r\n\r\n'));
  if (part.kind === 'message') {
    for (const child of part.children) writeEntity(child, report, chunks);
    return;
  }
  const boundary = part.contentType.params['boundary'] ?? '';
  if (part.preamble && isAscii(part.preamble)) chunks.push(part.preamble);
  for (const child of part.children) {
    chunks.push(utf8Encode(`\r\n--${boundary}\r\n`));
    writeEntity(child, report, chunks);
  }
  chunks.push(utf8Encode(`\r\n--${boundary}--\r\n`));
  if (part.epilogue && isAscii(part.epilogue)) chunks.push(part.epilogue);
}

/** Rewrites a message so every byte is 7-bit; an already 7-bit message is returned as is. */
export function downgradeTo7bitDetailed(message: Uint8Array): DowngradeResult {
  if (isAscii(message)) return { message, problems: [], retyped: [] };
  const parsed = parseMessage(message);
  const report: Report = { problems: [], retyped: [] };
  const chunks: Uint8Array[] = [];
  writeEntity(parsed.root, report, chunks);
  return { message: Buffer.concat(chunks), ...report };
}

export function downgradeTo7bit(message: Uint8Array): Uint8Array {
  return downgradeTo7bitDetailed(message).message;
}

/**
 * A BINARYMIME message (RFC 3030) made 7-bit for a hop or a mailbox that takes lines: like
 * downgradeTo7bit, but walked even when every octet is ASCII, since a binary body may hold bare CR, LF or
 * NUL that no line-based transfer keeps.
 */
export function encodeBinaryMime(message: Uint8Array): Uint8Array {
  const report: Report = { problems: [], retyped: [] };
  const chunks: Uint8Array[] = [];
  writeEntity(parseMessage(message).root, report, chunks);
  return Buffer.concat(chunks);
}
