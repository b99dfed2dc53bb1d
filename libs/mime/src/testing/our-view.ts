// Our parser's view of a message in the shape the oracle comparison uses.

import { parseMessage, walkParts } from '../tree.js';
import { sha256, type ViewPart } from './oracle-compare.js';

export function ourView(bytes: Uint8Array): ViewPart[] {
  const message = parseMessage(bytes);
  return walkParts(message.root).map((p) => ({
    path: p.path,
    kind: p.kind,
    contentType: p.contentType.mimeType,
    filename: p.filename ?? null,
    sha256: p.kind === 'leaf' ? sha256(p.content) : null,
  }));
}
