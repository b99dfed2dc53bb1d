// parseMessage: runs the stream parser over a whole message and collects the MIME tree
// with decoded content, charset-decoded text and the top-level envelope headers.

import { concatBytes } from './bytes.js';
import { decodeCharset } from './charset.js';
import { parseAddressList, type Address } from './address.js';
import { parseDate } from './date.js';
import { getDecodedHeader, getHeader, type HeaderField } from './headers.js';
import type { Defect, PartInfo } from './part.js';
import { MimeStreamParser, type ParserLimits } from './stream-parser.js';

export interface MimePart extends PartInfo {
  children: MimePart[];
  /** Transfer-decoded body of a leaf (empty for multiparts and messages). */
  content: Uint8Array;
  /** Charset-decoded content of text/* leaves. */
  text?: string;
  /** Multipart preamble and epilogue bytes, when present. */
  preamble?: Uint8Array;
  epilogue?: Uint8Array;
}

export interface ParsedMessage {
  root: MimePart;
  headers: HeaderField[];
  subject: string | undefined;
  from: Address[] | undefined;
  to: Address[] | undefined;
  cc: Address[] | undefined;
  /** Date header as milliseconds since the epoch; null when absent or invalid. */
  date: number | null;
  messageId: string | undefined;
  /** First text/plain and text/html body parts that are not attachments. */
  text: string | undefined;
  html: string | undefined;
  /** Leaves that are not the displayed text/html bodies. */
  attachments: MimePart[];
  defects: Defect[];
}

export type ParseOptions = ParserLimits;

/** Parses a whole message held in memory. Never throws; problems are listed in `defects`. */
export function parseMessage(input: Uint8Array | string, options: ParseOptions = {}): ParsedMessage {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const defects: Defect[] = [];
  const open: MimePart[] = [];
  const chunks = new Map<MimePart, Uint8Array[]>();
  let root: MimePart | undefined;
  const parser = new MimeStreamParser(
    {
      onPartStart(info) {
        const part: MimePart = Object.assign(info, { children: [], content: EMPTY }) as MimePart;
        const parent = open[open.length - 1];
        if (parent) parent.children.push(part);
        else if (!root) root = part;
        open.push(part);
        chunks.set(part, []);
      },
      onPartData(_info, chunk) {
        chunks.get(open[open.length - 1]!)!.push(chunk);
      },
      onMultipartText(info, preamble, epilogue) {
        const part = info as MimePart;
        if (preamble) part.preamble = preamble;
        if (epilogue) part.epilogue = epilogue;
      },
      onPartEnd() {
        const part = open.pop()!;
        const list = chunks.get(part)!;
        chunks.delete(part);
        if (part.kind !== 'leaf') return;
        part.content = list.length ? concatBytes(list) : EMPTY;
        if (part.contentType.type === 'text') {
          const decoded = decodeCharset(part.content, part.contentType.params['charset']);
          part.text = decoded.text;
          if (!decoded.known) defects.push({ path: part.path, name: 'UnknownCharset' });
        }
      },
      onDefect(defect) {
        defects.push(defect);
      },
    },
    options,
  );
  try {
    parser.write(bytes);
    parser.end();
  } catch (error) {
    // The parser is written not to throw; should it ever, keep what was read.
    defects.push({ path: '', name: `InternalError: ${(error as Error).message}` });
  }
  const top = root ?? emptyRoot();
  return summarize(top, defects);
}

const EMPTY = new Uint8Array(0);

function emptyRoot(): MimePart {
  return {
    path: '1',
    depth: 0,
    kind: 'leaf',
    headers: [],
    contentType: { mimeType: 'text/plain', type: 'text', subtype: 'plain', params: Object.create(null), defaulted: true },
    disposition: { type: '', params: Object.create(null) },
    transferEncoding: '',
    filename: undefined,
    contentId: undefined,
    isMessageRoot: true,
    children: [],
    content: EMPTY,
  };
}

function addresses(headers: HeaderField[], name: string): Address[] | undefined {
  const value = getHeader(headers, name);
  return value === undefined ? undefined : parseAddressList(value);
}

/** True for a leaf shown as the message text rather than offered as a file. */
export function isBodyText(part: MimePart): boolean {
  const mt = part.contentType.mimeType;
  return (mt === 'text/plain' || mt === 'text/html') && part.disposition.type !== 'attachment' && part.filename === undefined;
}

function summarize(root: MimePart, defects: Defect[]): ParsedMessage {
  const headers = root.headers;
  let text: string | undefined;
  let html: string | undefined;
  const attachments: MimePart[] = [];
  // Walk the top-level message only; encapsulated messages are attachments as a whole.
  const walk = (part: MimePart): void => {
    if (part.kind === 'multipart') {
      for (const child of part.children) walk(child);
      return;
    }
    if (part.kind === 'message') {
      attachments.push(part);
      return;
    }
    if (isBodyText(part)) {
      if (part.contentType.subtype === 'plain' && text === undefined) return void (text = part.text);
      if (part.contentType.subtype === 'html' && html === undefined) return void (html = part.text);
    }
    attachments.push(part);
  };
  walk(root);
  const messageId = getHeader(headers, 'message-id');
  return {
    root,
    headers,
    subject: getDecodedHeader(headers, 'subject'),
    from: addresses(headers, 'from'),
    to: addresses(headers, 'to'),
    cc: addresses(headers, 'cc'),
    date: parseDate(getHeader(headers, 'date')),
    messageId,
    text,
    html,
    attachments,
    defects,
  };
}

/** Every entity of the tree in depth-first pre-order (the order of IMAP section numbers). */
export function walkParts(root: MimePart): MimePart[] {
  const out: MimePart[] = [];
  const stack: MimePart[] = [root];
  while (stack.length) {
    const part = stack.pop()!;
    out.push(part);
    for (let i = part.children.length - 1; i >= 0; i--) stack.push(part.children[i]!);
  }
  return out;
}
