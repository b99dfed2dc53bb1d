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
  /**
   * The message text as mail clients show it: every text/plain body part (see `bodyParts`) in
   * order, joined with a line break; of a multipart/alternative only the first alternative that
   * has such a part counts. Undefined when there is none. `html` likewise for text/html.
   */
  text: string | undefined;
  html: string | undefined;
  /**
   * Leaves that are message text (RFC 2183 §2.1, RFC 2046 §5.1.3): text/plain and text/html
   * without a filename and not `Content-Disposition: attachment`, in order. A second text part
   * in multipart/mixed is one of these, not an attachment.
   */
  bodyParts: MimePart[];
  /** Leaves that are not message text, and encapsulated messages (message/rfc822) as a whole. */
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

interface ShownText {
  plain: string[];
  html: string[];
}

function joinShown(texts: string[]): string | undefined {
  if (!texts.length) return undefined;
  let out = texts[0]!;
  for (let i = 1; i < texts.length; i++) out += (out === '' || out.endsWith('\n') ? '' : '\n') + texts[i];
  return out;
}

function summarize(root: MimePart, defects: Defect[]): ParsedMessage {
  const headers = root.headers;
  const attachments: MimePart[] = [];
  const bodyParts: MimePart[] = [];
  // Walk the top-level message only; encapsulated messages are attachments as a whole.
  const walk = (part: MimePart): ShownText => {
    if (part.kind === 'multipart') {
      const shown = part.children.map(walk);
      if (part.contentType.subtype === 'alternative') {
        // one of the alternatives is shown (RFC 2046 §5.1.4)
        return { plain: shown.find((s) => s.plain.length)?.plain ?? [], html: shown.find((s) => s.html.length)?.html ?? [] };
      }
      return { plain: shown.flatMap((s) => s.plain), html: shown.flatMap((s) => s.html) };
    }
    if (part.kind === 'message' || !isBodyText(part)) {
      attachments.push(part);
      return { plain: [], html: [] };
    }
    bodyParts.push(part);
    const text = part.text ?? '';
    return part.contentType.subtype === 'plain' ? { plain: [text], html: [] } : { plain: [], html: [text] };
  };
  const shown = walk(root);
  const text = joinShown(shown.plain);
  const html = joinShown(shown.html);
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
    bodyParts,
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
