// Push-style MIME parser: bytes in through write()/end(), events out for each entity's
// headers, decoded body chunks and end. It keeps only the unfinished line and small
// look-ahead, so memory does not grow with an attachment that the caller streams out.

import { CR, LF, asBuffer } from './bytes.js';
import { HeaderBlockReader } from './headers.js';
import { LoneCrLineEndings } from './line-endings.js';
import { describePart, type Defect, type PartInfo } from './part.js';
import { createTransferDecoder, type TransferDecoder } from './transfer-encoding.js';

export interface ParserLimits {
  /** Most entities (parts) read; later ones are skipped. Default 50,000. */
  maxParts?: number;
  /**
   * Deepest nesting of multipart/message entities: an entity at this depth (the root is depth 0)
   * is not opened but kept as one leaf with its raw body, and `DepthLimitExceeded` is recorded.
   * Default 100.
   */
  maxDepth?: number;
  /**
   * Most bytes of ordinary fields kept per header section; later fields are skipped, except the
   * structural ones (Content-Type, Content-Transfer-Encoding, Content-Disposition, MIME-Version),
   * which are kept wherever they stand (up to the same number of bytes again). What was skipped
   * is reported as `HeaderTooLarge` with a detail. Default 1 MiB.
   */
  maxHeaderBytes?: number;
  /** Most preamble bytes kept per multipart (also the whole body when no delimiter appears). Default 16 MiB. */
  maxPreambleBytes?: number;
}

export interface StreamHandlers {
  /** An entity's header section is complete (multiparts: once their first delimiter is seen). */
  onPartStart?(part: PartInfo): void;
  /** A chunk of a leaf's transfer-decoded body. It may be a view of the written bytes. */
  onPartData?(part: PartInfo, chunk: Uint8Array): void;
  onPartEnd?(part: PartInfo): void;
  /** Multipart preamble/epilogue text, once known. */
  onMultipartText?(part: PartInfo, preamble: Uint8Array | null, epilogue: Uint8Array | null): void;
  onDefect?(defect: Defect): void;
}

type Target = 'leaf' | 'preamble' | 'parts' | 'epilogue' | 'nested' | 'skip';

interface Entity {
  info: PartInfo;
  parent: Entity | null;
  boundary: Uint8Array | null;
  /** Multipart phase; leaves are always 'leaf'. */
  target: Target;
  childCount: number;
  decoder: TransferDecoder | null;
  started: boolean;
  preamble: Uint8Array[];
  preambleBytes: number;
  epilogue: Uint8Array[];
  skipped: boolean;
  /** Parser for a message/rfc822 body that arrived base64 or quoted-printable encoded. */
  nested: MimeStreamParser | null;
}

const DASH = 0x2d;
const NL_DASH_DASH = Buffer.from('\n--', 'latin1');
const EMPTY = Buffer.alloc(0);
// A delimiter line longer than this (boundary plus padding) is treated as content.
const MAX_DELIMITER_LINE = 2048;

type Match = { entity: Entity; close: boolean; next: number } | 'none' | 'incomplete';

export class MimeStreamParser {
  private buf: Buffer = EMPTY;
  private pos = 0;
  private ended = false;
  private readonly limits: Required<ParserLimits>;
  private readonly handlers: StreamHandlers;

  /** Open entities from the root to the innermost. */
  private stack: Entity[] = [];
  /** Multiparts whose delimiters are live (not in their epilogue), outermost first. */
  private boundaries: Entity[] = [];
  private inHeaders = true;
  private header: HeaderBlockReader = new HeaderBlockReader();
  private headerBytes = 0;
  private headerOverflow = false;
  /** After the cap: whether the current field is structural and kept. */
  private keepingField = false;
  private structuralBytes = 0;
  private droppedFields = 0;
  private droppedBytes = 0;
  private skippingLongLine = false;
  private atLineStart = true;
  private pendingParent: Entity | null = null;
  private partCount = 0;
  private partsCapped = false;
  private first = true;
  private readonly lineEndings = new LoneCrLineEndings();

  private readonly parentPath: string | null;
  private readonly baseDepth: number;

  constructor(handlers: StreamHandlers = {}, limits: ParserLimits = {}, encapsulatedIn?: { path: string; depth: number }) {
    this.handlers = handlers;
    this.parentPath = encapsulatedIn?.path ?? null;
    this.baseDepth = encapsulatedIn ? encapsulatedIn.depth + 1 : 0;
    this.limits = {
      maxParts: limits.maxParts ?? 50_000,
      maxDepth: limits.maxDepth ?? 100,
      maxHeaderBytes: limits.maxHeaderBytes ?? 1 << 20,
      maxPreambleBytes: limits.maxPreambleBytes ?? 16 << 20,
    };
  }

  write(chunk: Uint8Array): void {
    if (this.ended || chunk.byteLength === 0) return;
    this.push(this.lineEndings.write(asBuffer(chunk)));
  }

  private push(incoming: Buffer): void {
    if (incoming.length === 0) return;
    if (this.pos >= this.buf.length) this.buf = incoming;
    else this.buf = Buffer.concat([this.buf.subarray(this.pos), incoming]);
    this.pos = 0;
    if (this.first) {
      this.first = false;
      if (this.buf.length >= 3 && this.buf[0] === 0xef && this.buf[1] === 0xbb && this.buf[2] === 0xbf) this.pos = 3;
    }
    this.run(false);
  }

  end(): void {
    if (this.ended) return;
    this.push(this.lineEndings.end());
    this.run(true);
    this.ended = true;
    if (this.inHeaders) this.finishHeaders();
    while (this.stack.length) this.closeEntity(this.stack[this.stack.length - 1]!);
    this.buf = EMPTY;
    this.pos = 0;
  }

  private defect(path: string, name: string, detail?: string): void {
    this.handlers.onDefect?.(detail === undefined ? { path, name } : { path, name, detail });
  }

  private run(final: boolean): void {
    for (;;) {
      const progressed = this.inHeaders ? this.readHeaderLine(final) : this.readBody(final);
      if (!progressed) return;
    }
  }

  // ---- header section -------------------------------------------------------------------

  /** Reads one header line; returns false when more input is needed. */
  private readHeaderLine(final: boolean): boolean {
    const buf = this.buf;
    const start = this.pos;
    const end = buf.length;
    if (start >= end) return false;
    let nl = buf.indexOf(LF, start);
    if (nl < 0) {
      if (!final) {
        if (end - start > this.limits.maxHeaderBytes) {
          // a single line larger than the cap: drop what we have and skip to its end
          if (!this.skippingLongLine) {
            this.headerOverflow = true;
            this.droppedFields++;
            this.keepingField = false;
          }
          this.skippingLongLine = true;
          this.droppedBytes += end - start;
          this.pos = end;
        }
        return false;
      }
      nl = end;
    }
    const next = nl < end ? nl + 1 : end;
    if (this.skippingLongLine) {
      this.skippingLongLine = false;
      this.droppedBytes += next - start;
      this.pos = next;
      return true;
    }
    const lineEnd = nl > start && buf[nl - 1] === CR ? nl - 1 : nl;
    if (this.boundaries.length && buf[start] === DASH && buf[start + 1] === DASH) {
      const m = this.matchDelimiter(start, final);
      if (m === 'incomplete') return false;
      if (m !== 'none') {
        // Two delimiters in a row enclose no entity at all (not even a header section).
        const parentKind = this.pendingParent?.info.kind;
        if (this.headerBytes === 0 && parentKind === 'multipart' && !m.close) {
          this.inHeaders = false;
          this.pos = m.next;
          this.onDelimiter(m);
          return true;
        }
        // a delimiter ends the header section and an empty body
        this.finishHeaders();
        this.pos = m.next;
        this.onDelimiter(m);
        return true;
      }
    }
    this.headerBytes += next - start;
    if (this.headerBytes > this.limits.maxHeaderBytes && lineEnd > start && !this.keepOverCap(buf, start, lineEnd, next - start)) {
      this.pos = next;
      return true;
    }
    const result = this.header.addLine(buf.subarray(start, lineEnd));
    if (result === 'blank') {
      this.pos = next;
      this.finishHeaders();
    } else if (result === 'not-a-header') {
      // the line belongs to the body
      this.pos = start;
      this.finishHeaders();
    } else {
      this.pos = next;
    }
    return true;
  }

  /**
   * A header line past the cap: kept when it belongs to a structural field (so the entity's
   * type and encoding survive a huge header section), counted as dropped otherwise.
   */
  private keepOverCap(buf: Buffer, start: number, lineEnd: number, length: number): boolean {
    const c0 = buf[start]!;
    if (!this.headerOverflow) {
      // the line that crosses the cap may continue a structural field begun before it
      this.headerOverflow = true;
      this.keepingField = isStructuralField(this.header.currentFieldName());
    }
    if (c0 !== 0x20 && c0 !== 0x09) {
      const colon = buf.indexOf(0x3a, start);
      const name = colon > start && colon < lineEnd ? buf.toString('latin1', start, colon) : '';
      this.keepingField = isStructuralField(name);
      if (!this.keepingField) this.droppedFields++;
    }
    if (this.keepingField && this.structuralBytes + length <= this.limits.maxHeaderBytes) {
      this.structuralBytes += length;
      return true;
    }
    if (this.keepingField) {
      // even structural fields are bounded: the field is dropped from here on
      this.keepingField = false;
      this.droppedFields++;
    }
    this.droppedBytes += length;
    return false;
  }

  /** Turns the collected header section into an entity and starts its body. */
  private finishHeaders(): void {
    const parent = this.pendingParent;
    const headers = this.header.finish();
    const headerDefects = this.header.defects;
    const overflow = this.headerOverflow
      ? `header section over ${this.limits.maxHeaderBytes} bytes: ${this.droppedFields} field(s) (${this.droppedBytes} bytes) dropped; Content-Type, Content-Transfer-Encoding, Content-Disposition and MIME-Version kept`
      : null;
    this.header = new HeaderBlockReader();
    this.headerBytes = 0;
    this.headerOverflow = false;
    this.keepingField = false;
    this.structuralBytes = 0;
    this.droppedFields = 0;
    this.droppedBytes = 0;
    this.inHeaders = false;
    this.atLineStart = true;

    const depth = parent ? parent.info.depth + 1 : this.baseDepth;
    const defaultType = parent && parent.info.kind === 'multipart' && parent.info.contentType.mimeType === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
    const isMessageRoot = !parent || parent.info.kind === 'message';
    const info = describePart(headers, '', depth, defaultType, isMessageRoot);
    const entity: Entity = {
      info,
      parent,
      boundary: null,
      target: 'leaf',
      childCount: 0,
      decoder: null,
      started: false,
      preamble: [],
      preambleBytes: 0,
      epilogue: [],
      skipped: false,
      nested: null,
    };
    if (parent) parent.childCount++;
    this.partCount++;
    if (this.partCount > this.limits.maxParts) {
      if (!this.partsCapped) this.defect(parent ? parent.info.path : '', 'PartLimitExceeded', `more than maxParts (${this.limits.maxParts}) entities: later ones are skipped`);
      this.partsCapped = true;
      entity.skipped = true;
    }

    const ct = info.contentType;
    const mt = ct.mimeType;
    const tooDeep = depth >= this.limits.maxDepth;
    if (ct.type === 'multipart' && !tooDeep) {
      // RFC 2046 §5.1.1: a boundary never ends in white space, so trailing blanks are not part of it
      const boundary = ct.params['boundary']?.replace(/[ \t]+$/, '');
      if (boundary !== undefined) {
        info.kind = 'multipart';
        entity.boundary = Buffer.from(boundary, 'utf8');
        entity.target = 'preamble';
      }
    } else if ((mt === 'message/rfc822' || mt === 'message/global') && !tooDeep) {
      info.kind = 'message';
    }
    info.path = parent ? pathFor(parent, info.kind) : this.rootPath(info.kind);
    for (const d of headerDefects) this.defect(info.path, d);
    if (overflow) this.defect(info.path, 'HeaderTooLarge', overflow);
    const depthDetail = `nested deeper than maxDepth (${this.limits.maxDepth}): kept as one leaf with its raw body`;
    if (ct.type === 'multipart' && info.kind === 'leaf') {
      if (tooDeep) this.defect(info.path, 'DepthLimitExceeded', depthDetail);
      else this.defect(info.path, 'NoBoundaryInMultipart');
    }
    if (info.kind === 'leaf' && tooDeep && (mt === 'message/rfc822' || mt === 'message/global')) this.defect(info.path, 'DepthLimitExceeded', depthDetail);

    this.stack.push(entity);
    if (info.kind === 'multipart') {
      this.boundaries.push(entity);
      // started (event) once the first delimiter shows it really is a multipart
      return;
    }
    this.startEntity(entity);
    if (info.kind === 'message' && !isIdentityEncoding(info.transferEncoding)) {
      // RFC 2046 forbids encoding message/rfc822, but it happens: decode, then parse.
      this.defect(info.path, 'EncodedMessage');
      entity.decoder = createTransferDecoder(info.transferEncoding);
      entity.nested = new MimeStreamParser(this.handlers, this.limits, { path: info.path, depth });
      entity.target = 'nested';
      return;
    }
    if (info.kind === 'message') {
      this.pendingParent = entity;
      this.inHeaders = true;
      return;
    }
    entity.decoder = createTransferDecoder(info.transferEncoding);
    if (entity.skipped) entity.target = 'skip';
  }

  private topTarget(): Target | undefined {
    return this.stack[this.stack.length - 1]?.target;
  }

  private rootPath(kind: string): string {
    if (this.parentPath === null) return kind === 'multipart' ? 'TEXT' : '1';
    return this.parentPath + (kind === 'multipart' ? '.TEXT' : '.1');
  }

  private startEntity(entity: Entity): void {
    if (entity.started) return;
    entity.started = true;
    if (!entity.skipped) this.handlers.onPartStart?.(entity.info);
  }

  // ---- bodies -----------------------------------------------------------------------------

  /** Sends body bytes of the innermost entity to where they belong. */
  private emit(bytes: Uint8Array): void {
    if (!bytes.length) return;
    const entity = this.stack[this.stack.length - 1];
    if (!entity) return;
    switch (entity.target) {
      case 'leaf': {
        const out = entity.decoder!.write(bytes);
        if (out.length && !entity.skipped) this.handlers.onPartData?.(entity.info, out);
        break;
      }
      case 'preamble':
        if (entity.preambleBytes + bytes.length <= this.limits.maxPreambleBytes) entity.preamble.push(bytes);
        else if (entity.preambleBytes <= this.limits.maxPreambleBytes) this.defect(entity.info.path, 'PreambleTooLarge');
        entity.preambleBytes += bytes.length;
        break;
      case 'epilogue':
        if (entity.epilogue.length < 64) entity.epilogue.push(bytes);
        break;
      case 'nested': {
        const out = entity.decoder!.write(bytes);
        if (out.length) entity.nested!.write(out);
        break;
      }
      case 'parts':
      case 'skip':
        break;
    }
  }

  /** Scans body bytes for a delimiter line of any open multipart; false when input is needed. */
  private readBody(final: boolean): boolean {
    const buf = this.buf;
    const end = buf.length;
    const regionStart = this.pos;
    if (regionStart >= end) return false;
    if (!this.boundaries.length) {
      this.emit(buf.subarray(regionStart, end));
      this.pos = end;
      this.atLineStart = false;
      return false;
    }
    let search = regionStart;
    let checkHere = this.atLineStart;
    for (;;) {
      let lineStart: number;
      if (checkHere) {
        lineStart = search;
        checkHere = false;
      } else {
        const idx = buf.indexOf(NL_DASH_DASH, search);
        if (idx < 0) {
          this.holdBack(regionStart, final);
          return false;
        }
        lineStart = idx + 1;
      }
      const m = this.matchDelimiter(lineStart, final);
      if (m === 'none') {
        search = lineStart;
        continue;
      }
      const eol = eolStart(buf, lineStart, regionStart);
      if (m === 'incomplete') {
        this.emit(buf.subarray(regionStart, eol));
        this.pos = eol;
        this.atLineStart = eol === lineStart;
        return false;
      }
      // Preamble text keeps its last line break (it is whole-body text if no part follows).
      this.emit(buf.subarray(regionStart, this.topTarget() === 'preamble' ? lineStart : eol));
      this.pos = m.next;
      this.onDelimiter(m);
      return true;
    }
  }

  /** No delimiter in sight: emit all but the last line break and what follows it. */
  private holdBack(regionStart: number, final: boolean): void {
    const buf = this.buf;
    const end = buf.length;
    if (final) {
      // An unclosed multipart: the last line break of its last part belongs to the missing
      // delimiter, as it would to a real one.
      const cut = this.topTarget() === 'leaf' ? eolStart(buf, end, regionStart) : end;
      this.emit(buf.subarray(regionStart, cut));
      this.pos = end;
      return;
    }
    const lastNl = buf.lastIndexOf(LF, end - 1);
    let keep: number;
    if (lastNl >= regionStart) {
      keep = eolStart(buf, lastNl + 1, regionStart);
      // a long tail after the last line break cannot be a delimiter line
      if (end - lastNl > MAX_DELIMITER_LINE) keep = buf[end - 1] === CR ? end - 1 : end;
    } else if (this.atLineStart && end - regionStart <= MAX_DELIMITER_LINE) {
      return;
    } else {
      keep = buf[end - 1] === CR ? end - 1 : end;
    }
    if (keep > regionStart) {
      this.emit(buf.subarray(regionStart, keep));
      this.pos = keep;
      this.atLineStart = false;
    }
  }

  /** RFC 2046 §5.1.1: `--boundary`, optional `--`, optional white space, end of line. */
  private matchDelimiter(lineStart: number, final: boolean): Match {
    const buf = this.buf;
    const end = buf.length;
    if (lineStart + 2 > end) return final ? 'none' : 'incomplete';
    if (buf[lineStart] !== DASH || buf[lineStart + 1] !== DASH) return 'none';
    let incomplete = false;
    // Outermost first: when an inner multipart reuses an outer boundary, the outer one wins
    // (the line ends the outer part; RFC 2046 forbids the reuse).
    for (let k = 0; k < this.boundaries.length; k++) {
      const entity = this.boundaries[k]!;
      const b = entity.boundary!;
      let p = lineStart + 2;
      let i = 0;
      while (i < b.length && p < end && buf[p] === b[i]) {
        p++;
        i++;
      }
      if (i < b.length) {
        if (p === end && !final) incomplete = true;
        continue;
      }
      let close = false;
      if (p + 1 < end && buf[p] === DASH && buf[p + 1] === DASH) {
        close = true;
        p += 2;
      } else if (p + 1 >= end && buf[p] === DASH && !final) {
        incomplete = true;
        continue;
      }
      while (p < end && (buf[p] === 0x20 || buf[p] === 0x09)) p++;
      if (p === end) {
        if (final) return { entity, close, next: end };
        if (end - lineStart < MAX_DELIMITER_LINE) incomplete = true;
        continue;
      }
      if (buf[p] === LF) return { entity, close, next: p + 1 };
      if (buf[p] === CR) {
        if (p + 1 === end && !final) {
          incomplete = true;
          continue;
        }
        return { entity, close, next: buf[p + 1] === LF ? p + 2 : p + 1 };
      }
    }
    return incomplete ? 'incomplete' : 'none';
  }

  private onDelimiter(m: { entity: Entity; close: boolean }): void {
    const multipart = m.entity;
    // Entities opened inside this multipart end here, closed or not.
    while (this.stack.length && this.stack[this.stack.length - 1] !== multipart) {
      this.closeEntity(this.stack[this.stack.length - 1]!);
    }
    if (this.inHeaders) this.inHeaders = false;
    this.atLineStart = true;
    if (multipart.target === 'preamble' && m.close) {
      // A close delimiter before any start delimiter: there are no parts, and what came
      // before it is the body of a single leaf (as for a missing start delimiter).
      this.closeEntity(multipart);
      return;
    }
    if (multipart.target === 'preamble') {
      this.startEntity(multipart);
      const preamble = multipart.preamble;
      multipart.preamble = [];
      multipart.target = 'parts';
      (multipart as { preambleText?: Uint8Array }).preambleText = preamble.length ? Buffer.concat(preamble) : EMPTY;
    }
    if (m.close) {
      multipart.target = 'epilogue';
      const at = this.boundaries.indexOf(multipart);
      if (at >= 0) this.boundaries.length = at;
      return;
    }
    // a new body part begins with its header section
    this.pendingParent = multipart;
    this.inHeaders = true;
    this.header = new HeaderBlockReader();
    this.headerBytes = 0;
  }

  /** Ends an entity: flushes its decoder, reports a missing close delimiter, pops it. */
  private closeEntity(entity: Entity): void {
    const top = this.stack.pop();
    if (top !== entity) throw new Error('MIME parser stack out of order');
    const at = this.boundaries.indexOf(entity);
    if (at >= 0) this.boundaries.length = at;
    const info = entity.info;
    if (info.kind === 'multipart') {
      if (entity.target === 'preamble') {
        // No delimiter ever appeared: the body is one leaf of this multipart type.
        this.defect(info.path, 'StartBoundaryNotFound');
        info.kind = 'leaf';
        info.path = entity.parent ? pathFor(entity.parent, 'leaf') : this.rootPath('leaf');
        this.startEntity(entity);
        const decoder = createTransferDecoder(info.transferEncoding);
        for (const chunk of entity.preamble) {
          const out = decoder.write(chunk);
          if (out.length && !entity.skipped) this.handlers.onPartData?.(info, out);
        }
        const tail = decoder.end();
        if (tail.length && !entity.skipped) this.handlers.onPartData?.(info, tail);
        entity.preamble = [];
      } else {
        if (entity.target !== 'epilogue') this.defect(info.path, 'CloseBoundaryNotFound');
        const preamble = (entity as { preambleText?: Uint8Array }).preambleText ?? null;
        const epilogue = entity.target === 'epilogue' ? Buffer.concat(entity.epilogue) : null;
        this.handlers.onMultipartText?.(info, preamble && preamble.length ? preamble : null, epilogue);
      }
    } else if (entity.nested) {
      const tail = entity.decoder!.end();
      if (tail.length) entity.nested.write(tail);
      entity.nested.end();
    } else if (info.kind === 'leaf' && entity.decoder) {
      const tail = entity.decoder.end();
      if (tail.length && !entity.skipped) this.handlers.onPartData?.(info, tail);
      for (const d of entity.decoder.defects) this.defect(info.path, d);
    }
    if (!entity.skipped) this.handlers.onPartEnd?.(info);
    if (entity.parent && this.pendingParent === entity) this.pendingParent = entity.parent;
  }
}

const STRUCTURAL_FIELDS = new Set(['content-type', 'content-transfer-encoding', 'content-disposition', 'mime-version']);

function isStructuralField(name: string): boolean {
  return STRUCTURAL_FIELDS.has(name.trimEnd().toLowerCase());
}

function isIdentityEncoding(cte: string): boolean {
  return cte === '' || cte === '7bit' || cte === '8bit' || cte === 'binary';
}

/** Where the line break before `lineStart` begins (it belongs to the delimiter). */
function eolStart(buf: Buffer, lineStart: number, floor: number): number {
  if (lineStart <= floor) return floor;
  let e = lineStart - 1;
  if (buf[e] !== LF) return lineStart;
  if (e > floor && buf[e - 1] === CR) e--;
  return e;
}

function childPrefix(multipart: Entity): string {
  const p = multipart.info.path;
  if (p === 'TEXT') return '';
  if (p.endsWith('.TEXT')) return p.slice(0, -4);
  return p + '.';
}

/** IMAP section numbering (RFC 3501 §6.4.5). */
function pathFor(parent: Entity, kind: string): string {
  if (parent.info.kind === 'message') return parent.info.path + (kind === 'multipart' ? '.TEXT' : '.1');
  return childPrefix(parent) + parent.childCount;
}
