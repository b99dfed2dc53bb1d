// What the parser knows about one MIME entity once its header section is read:
// IMAP section path, content type, disposition, transfer encoding and filename.

import { getHeader, type HeaderField } from './headers.js';
import { parseContentDisposition, parseContentType, type ContentDisposition, type ContentType } from './params.js';
import { normalizeTransferEncoding } from './transfer-encoding.js';

/** `multipart` has children, `message` has one child (the encapsulated message), `leaf` has content. */
export type PartKind = 'multipart' | 'message' | 'leaf';

export interface Defect {
  /** IMAP section path of the entity the defect belongs to. */
  path: string;
  /** Defect name, e.g. `CloseBoundaryNotFound`, `InvalidBase64Characters`, `PartLimitExceeded`. */
  name: string;
  /** What a limit cut (e.g. how many header fields were dropped), when there is more to say. */
  detail?: string;
}

export interface PartInfo {
  /** IMAP (RFC 3501) section number: `1`, `2.3`, `TEXT`, `2.TEXT`. */
  path: string;
  depth: number;
  kind: PartKind;
  headers: HeaderField[];
  contentType: ContentType;
  disposition: ContentDisposition;
  /** Content-Transfer-Encoding, trimmed and lowercased; '' when absent. */
  transferEncoding: string;
  /** Disposition `filename`, else Content-Type `name`; RFC 2231 decoded, or RFC 2047 decoded when a plain value. */
  filename: string | undefined;
  /** Content-ID without angle brackets. */
  contentId: string | undefined;
  /** True for the root entity of a message (top level or encapsulated in message/rfc822). */
  isMessageRoot: boolean;
}

/** Reads the MIME fields of a header section; `defaultType` is message/rfc822 inside multipart/digest. */
export function describePart(headers: HeaderField[], path: string, depth: number, defaultType: string, isMessageRoot: boolean): PartInfo {
  const contentType = parseContentType(getHeader(headers, 'content-type'), defaultType);
  const disposition = parseContentDisposition(getHeader(headers, 'content-disposition'));
  const name = disposition.params['filename'] ?? contentType.params['name'];
  const cid = getHeader(headers, 'content-id');
  return {
    path,
    depth,
    kind: 'leaf',
    headers,
    contentType,
    disposition,
    transferEncoding: normalizeTransferEncoding(getHeader(headers, 'content-transfer-encoding')),
    // parseParams already decoded it (RFC 2231, or lenient RFC 2047 for plain values)
    filename: name,
    contentId: cid === undefined ? undefined : cid.replace(/^\s*<|>\s*$/g, ''),
    isMessageRoot,
  };
}
