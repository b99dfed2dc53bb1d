// Adapters that turn each parser's result into the comparison shapes of
// src/testing/oracle-compare.ts: a list of "attachment" leaves with content hashes.
import { simpleParser } from 'mailparser';
import PostalMime from 'postal-mime';
import { parseMessage, walkParts } from '../dist/index.js';
import { sha256 } from '../dist/testing/oracle-compare.js';

/** One rule for every parser: a non-text/plain/html leaf, or any leaf with a filename; never message/*. */
export function isAttachment(contentType, filename) {
  const ct = (contentType ?? '').toLowerCase();
  if (ct.startsWith('message/') || ct.startsWith('multipart/')) return false;
  return Boolean(filename) || (ct !== 'text/plain' && ct !== 'text/html');
}

export const parsers = {
  ours: {
    parse: (bytes) => parseMessage(bytes),
    attachments(result) {
      return walkParts(result.root)
        .filter((p) => p.kind === 'leaf' && isAttachment(p.contentType.mimeType, p.filename))
        .map((p) => ({ filename: p.filename ?? null, sha256: sha256(p.content) }));
    },
  },
  mailparser: {
    parse: (bytes) => simpleParser(Buffer.from(bytes), { skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true, skipImageLinks: true }),
    attachments(result) {
      return result.attachments
        .filter((a) => isAttachment(a.contentType, a.filename))
        .map((a) => ({ filename: a.filename ?? null, sha256: sha256(a.content) }));
    },
  },
  'postal-mime': {
    parse: (bytes) => PostalMime.parse(bytes),
    attachments(result) {
      return result.attachments
        .filter((a) => isAttachment(a.mimeType, a.filename))
        .map((a) => ({ filename: a.filename ?? null, sha256: sha256(new Uint8Array(a.content)) }));
    },
  },
};
