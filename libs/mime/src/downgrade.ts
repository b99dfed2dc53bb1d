// 8-bit to 7-bit downgrade (RFC 6152 peers without 8BITMIME): 8bit/binary leaves are
// re-encoded as quoted-printable (text) or base64, raw 8-bit header text becomes RFC 2047
// encoded words; structure, boundaries and 7-bit parts are kept.

import { isAscii, utf8Encode } from './bytes.js';
import { encodeEncodedWords } from './encoded-word.js';
import { foldHeader } from './fold.js';
import { encodeBase64Lines, encodeQuotedPrintable } from './transfer-encoding.js';
import { parseMessage, type MimePart } from './tree.js';

export interface DowngradeResult {
  message: Uint8Array;
  /** Header fields that could not be made 7-bit (e.g. a UTF-8 local part needs SMTPUTF8). */
  problems: string[];
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

function writeHeaders(part: MimePart, newCte: string | null, problems: string[], out: string[]): void {
  for (const field of part.headers) {
    if (newCte && field.name.toLowerCase() === 'content-transfer-encoding') continue;
    if (!NON_ASCII.test(field.raw)) out.push(field.raw);
    else out.push(foldHeader(field.name, downgradeHeaderValue(field.value, problems, field.name)));
  }
  if (newCte) out.push(`Content-Transfer-Encoding: ${newCte}`);
}

function writeEntity(part: MimePart, problems: string[], chunks: Uint8Array[]): void {
  const head: string[] = [];
  if (part.kind === 'leaf') {
    const cte = part.transferEncoding;
    let body: string | Uint8Array = part.content;
    let newCte: string | null = null;
    if (cte === 'base64') body = encodeBase64Lines(part.content);
    else if (cte === 'quoted-printable') body = encodeQuotedPrintable(part.content);
    else if (!isAscii(part.content) || cte === '8bit' || cte === 'binary') {
      newCte = part.contentType.type === 'text' ? 'quoted-printable' : 'base64';
      body = newCte === 'base64' ? encodeBase64Lines(part.content) : encodeQuotedPrintable(part.content);
    }
    writeHeaders(part, newCte, problems, head);
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
    for (const child of part.children) writeEntity(child, problems, chunks);
    return;
  }
  const boundary = part.contentType.params['boundary'] ?? '';
  if (part.preamble && isAscii(part.preamble)) chunks.push(part.preamble);
  for (const child of part.children) {
    chunks.push(utf8Encode(`\r\n--${boundary}\r\n`));
    writeEntity(child, problems, chunks);
  }
  chunks.push(utf8Encode(`\r\n--${boundary}--\r\n`));
  if (part.epilogue && isAscii(part.epilogue)) chunks.push(part.epilogue);
}

/** Rewrites a message so every byte is 7-bit; an already 7-bit message is returned as is. */
export function downgradeTo7bitDetailed(message: Uint8Array): DowngradeResult {
  if (isAscii(message)) return { message, problems: [] };
  const parsed = parseMessage(message);
  const problems: string[] = [];
  const chunks: Uint8Array[] = [];
  writeEntity(parsed.root, problems, chunks);
  return { message: Buffer.concat(chunks), problems };
}

export function downgradeTo7bit(message: Uint8Array): Uint8Array {
  return downgradeTo7bitDetailed(message).message;
}
