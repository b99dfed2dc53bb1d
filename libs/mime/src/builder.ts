// Message composition: MIME entities from a tree of parts, and whole messages from text,
// HTML, attachments and inline parts, with the transfer encoding chosen per part.

import { randomBytes } from 'node:crypto';
import { formatAddress } from './address.js';
import { utf8Encode } from './bytes.js';
import { formatDate } from './date.js';
import { needsEncoding } from './encoded-word.js';
import { encodeUnstructured, foldHeader, foldUnstructured, formatParam } from './fold.js';
import { encodeBase64Lines, encodeQuotedPrintable, type TransferEncoding } from './transfer-encoding.js';

/** One entity to build: a leaf with content, or a multipart with children. */
export interface BuildPart {
  /** e.g. `text/plain`, `multipart/alternative`. */
  contentType: string;
  /** Extra Content-Type parameters (charset is added for text). */
  params?: Record<string, string>;
  content?: Uint8Array | string;
  children?: BuildPart[];
  disposition?: 'inline' | 'attachment';
  filename?: string;
  contentId?: string;
  /** Force a transfer encoding; by default it is chosen from the content. */
  transferEncoding?: TransferEncoding;
  /** Extra header fields, written as given (values are encoded if not ASCII). */
  headers?: [string, string][];
}

export interface MailboxInput {
  name?: string;
  address: string;
}

/** An RFC 5322 §3.4 group: `team: a@x, b@y;`, or `undisclosed-recipients:;` with no members. */
export interface GroupInput {
  group: string;
  members: (MailboxInput | string)[];
}

export type AddressInput = MailboxInput | GroupInput | string;

export interface AttachmentInput {
  filename?: string;
  content: Uint8Array | string;
  contentType?: string;
  /** Inline parts are referenced from HTML by `cid:` and go into multipart/related. */
  contentId?: string;
  inline?: boolean;
}

export interface MessageInput {
  from: MailboxInput | string;
  /** Mailboxes and groups (RFC 5322 §3.4), e.g. `[{ group: 'undisclosed-recipients', members: [] }]`. */
  to?: AddressInput[];
  cc?: AddressInput[];
  replyTo?: MailboxInput | string;
  subject?: string;
  date?: Date;
  messageId?: string;
  headers?: [string, string][];
  text?: string;
  html?: string;
  attachments?: AttachmentInput[];
  /** A ready-made MIME body instead of text/html/attachments (e.g. multipart/report). */
  body?: BuildPart;
}

let boundaryCounter = 0;

/** Boundaries contain "=_", which neither base64 nor quoted-printable output can contain. */
export function makeBoundary(): string {
  boundaryCounter = (boundaryCounter + 1) % 1e9;
  return `=_mime_${randomBytes(12).toString('hex')}_${boundaryCounter}`;
}

function isTextType(contentType: string): boolean {
  return contentType.startsWith('text/') || contentType === 'message/delivery-status' || contentType === 'text/rfc822-headers';
}

/** CRLF line ends for text (RFC 2045 canonical form). */
function canonicalText(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '\r\n');
}

/**
 * 7bit when the bytes are ASCII with short lines; quoted-printable for mostly-ASCII text;
 * base64 otherwise (RFC 2045 §6, RFC 5322 §2.1.1 line limit).
 */
export function chooseTransferEncoding(bytes: Uint8Array, text: boolean): TransferEncoding {
  let high = 0;
  let lineLength = 0;
  let longLines = false;
  let bareControl = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === 0x0a) {
      if (i === 0 || bytes[i - 1] !== 0x0d) bareControl = true;
      lineLength = 0;
      continue;
    }
    if (c === 0x0d) {
      if (bytes[i + 1] !== 0x0a) bareControl = true;
      continue;
    }
    if (c >= 0x80) high++;
    else if (c === 0) bareControl = true;
    if (++lineLength > 76) longLines = true;
  }
  if (!text) return 'base64';
  if (high === 0 && !longLines && !bareControl) return '7bit';
  return high * 6 < bytes.length && !bareControl ? 'quoted-printable' : 'base64';
}

/**
 * message/rfc822 may only be 7bit, 8bit or binary (RFC 2046 §5.2.1): 7bit when the message is
 * ASCII with lines of at most 998 characters, 8bit when only the bytes are 8-bit, else binary.
 * The content is in canonical form (CRLF line breaks) by then.
 */
export function chooseMessageEncoding(bytes: Uint8Array): TransferEncoding {
  let high = false;
  let nul = false;
  let lineLength = 0;
  let longLines = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === 0x0d && bytes[i + 1] === 0x0a) {
      lineLength = 0;
      i++;
      continue;
    }
    if (c >= 0x80) high = true;
    else if (c === 0) nul = true;
    if (++lineLength > 998) longLines = true;
  }
  if (longLines || nul) return 'binary';
  return high ? '8bit' : '7bit';
}

/** Lone CR or LF line breaks become CRLF (RFC 5322 §2.3, the canonical form of a message). */
function canonicalLineBreaks(bytes: Uint8Array): Uint8Array {
  let bare = false;
  for (let i = 0; i < bytes.length && !bare; i++) {
    const c = bytes[i]!;
    if (c === 0x0a && (i === 0 || bytes[i - 1] !== 0x0d)) bare = true;
    else if (c === 0x0d && bytes[i + 1] !== 0x0a) bare = true;
  }
  return bare ? Buffer.from(Buffer.from(bytes).toString('latin1').replace(/\r\n|\r|\n/g, '\r\n'), 'latin1') : bytes;
}

function headerLine(name: string, value: string): string {
  // eslint-disable-next-line no-control-regex
  return foldHeader(name, /^[\x20-\x7e]*$/.test(value) ? value : encodeUnstructured(value));
}

/** Serialises one entity (headers and body), recursively for multiparts. */
export function buildPart(part: BuildPart): Uint8Array {
  const chunks: Uint8Array[] = [];
  writePart(part, chunks, true);
  return Buffer.concat(chunks);
}

function writePart(part: BuildPart, out: Uint8Array[], _top: boolean): void {
  const lines: string[] = [];
  const params = { ...(part.params ?? {}) };
  if (part.children) {
    const boundary = params['boundary'] ?? makeBoundary();
    params['boundary'] = boundary;
    lines.push(foldHeader('Content-Type', part.contentType + Object.entries(params).map(([k, v]) => formatParam(k, v)).join('')));
    for (const [name, value] of part.headers ?? []) lines.push(headerLine(name, value));
    out.push(utf8Encode(lines.join('\r\n') + '\r\n\r\n'));
    for (const child of part.children) {
      out.push(utf8Encode(`--${boundary}\r\n`));
      writePart(child, out, false);
      out.push(utf8Encode('\r\n'));
    }
    out.push(utf8Encode(`--${boundary}--\r\n`));
    return;
  }
  const text = isTextType(part.contentType);
  let bytes: Uint8Array;
  if (typeof part.content === 'string') {
    bytes = utf8Encode(text ? canonicalText(part.content) : part.content);
    if (text && !('charset' in params)) params['charset'] = 'utf-8';
  } else {
    bytes = part.content ?? new Uint8Array(0);
  }
  if (part.filename !== undefined && part.disposition === undefined) params['name'] = part.filename;
  let cte = part.transferEncoding ?? chooseTransferEncoding(bytes, text);
  if (part.contentType.toLowerCase() === 'message/rfc822') {
    // never base64 or quoted-printable (RFC 2046 §5.2.1); 8-bit inner parts are re-encoded
    // by downgradeTo7bit when a peer needs 7-bit
    bytes = canonicalLineBreaks(bytes);
    const needed = chooseMessageEncoding(bytes);
    const forced = part.transferEncoding;
    cte = forced === '8bit' && needed === '7bit' ? '8bit' : forced === 'binary' ? 'binary' : needed;
  }
  lines.push(foldHeader('Content-Type', part.contentType + Object.entries(params).map(([k, v]) => formatParam(k, v)).join('')));
  lines.push(`Content-Transfer-Encoding: ${cte}`);
  if (part.disposition) {
    lines.push(foldHeader('Content-Disposition', part.disposition + (part.filename !== undefined ? formatParam('filename', part.filename) : '')));
  }
  if (part.contentId) lines.push(`Content-ID: <${part.contentId.replace(/^<|>$/g, '')}>`);
  for (const [name, value] of part.headers ?? []) lines.push(headerLine(name, value));
  out.push(utf8Encode(lines.join('\r\n') + '\r\n\r\n'));
  let body: string | Uint8Array;
  if (cte === 'base64') body = encodeBase64Lines(bytes);
  else if (cte === 'quoted-printable') body = encodeQuotedPrintable(bytes);
  else body = bytes;
  out.push(typeof body === 'string' ? Buffer.from(body, 'latin1') : body);
}

function mailbox(input: MailboxInput | string): MailboxInput {
  return typeof input === 'string' ? { address: input } : input;
}

function formatMailbox(input: MailboxInput | string): string {
  const m = mailbox(input);
  return formatAddress({ address: m.address, name: m.name === undefined ? '' : needsEncoding(m.name) ? encodeUnstructured(m.name) : m.name });
}

/** A group's display name is a phrase: an atom sequence, else encoded words or a quoted string. */
function groupName(name: string): string {
  if (needsEncoding(name)) return encodeUnstructured(name);
  return /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/.test(name) ? name : `"${name.replace(/(["\\])/g, '\\$1')}"`;
}

function addressHeader(list: AddressInput[]): string {
  return list
    .map((item) => (typeof item === 'object' && 'group' in item ? `${groupName(item.group)}:${item.members.length ? ' ' + item.members.map(formatMailbox).join(', ') : ''};` : formatMailbox(item)))
    .join(', ');
}

/** The MIME tree for text/html/attachments: mixed > related > alternative, each only when needed. */
export function messageBody(input: Pick<MessageInput, 'text' | 'html' | 'attachments'>): BuildPart {
  const textPart: BuildPart | undefined = input.text !== undefined ? { contentType: 'text/plain', content: input.text } : undefined;
  const htmlPart: BuildPart | undefined = input.html !== undefined ? { contentType: 'text/html', content: input.html } : undefined;
  let body: BuildPart =
    textPart && htmlPart
      ? { contentType: 'multipart/alternative', children: [textPart, htmlPart] }
      : (htmlPart ?? textPart ?? { contentType: 'text/plain', content: '' });
  const attachments = input.attachments ?? [];
  const toPart = (a: AttachmentInput): BuildPart => ({
    contentType: a.contentType ?? 'application/octet-stream',
    content: a.content,
    disposition: a.inline || a.contentId ? 'inline' : 'attachment',
    ...(a.filename !== undefined ? { filename: a.filename } : {}),
    ...(a.contentId !== undefined ? { contentId: a.contentId } : {}),
  });
  const inline = attachments.filter((a) => a.contentId && htmlPart);
  const regular = attachments.filter((a) => !(a.contentId && htmlPart));
  if (inline.length) body = { contentType: 'multipart/related', children: [body, ...inline.map(toPart)] };
  if (regular.length) body = { contentType: 'multipart/mixed', children: [body, ...regular.map(toPart)] };
  return body;
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at >= 0 ? address.slice(at + 1) : 'localhost';
}

/** A complete RFC 5322 message with MIME-Version, Date and Message-ID. */
export function buildMessage(input: MessageInput): Uint8Array {
  const from = mailbox(input.from);
  const top: [string, string][] = [
    ['From', addressHeader([from])],
    ...(input.to?.length ? ([['To', addressHeader(input.to)]] as [string, string][]) : []),
    ...(input.cc?.length ? ([['Cc', addressHeader(input.cc)]] as [string, string][]) : []),
    ...(input.replyTo ? ([['Reply-To', addressHeader([input.replyTo])]] as [string, string][]) : []),
    ...(input.subject !== undefined ? ([['Subject', input.subject]] as [string, string][]) : []),
    ['Date', formatDate(input.date ?? new Date())],
    ['Message-ID', input.messageId ?? `<${randomBytes(16).toString('hex')}@${domainOf(from.address)}>`],
    ['MIME-Version', '1.0'],
    ...(input.headers ?? []),
  ];
  const body = input.body ?? messageBody(input);
  const head = top
    .map(([name, value]) => (name === 'Subject' ? foldUnstructured(name, value) : /^[\x20-\x7e]*$/.test(value) ? headerLine(name, value) : foldHeader(name, value)))
    .join('\r\n');
  return Buffer.concat([utf8Encode(head + '\r\n'), buildPart(body)]);
}
