// Content-Type and Content-Disposition values (RFC 2045 §5, RFC 2183) and their
// parameters, including RFC 2231 continuations, charsets and percent-encoding.

import { decodeText } from './charset.js';
import { decodeEncodedWords } from './encoded-word.js';

/** Parameter names are lowercased; the object has no prototype, so any name is safe. */
export type Params = Record<string, string>;

export interface ContentType {
  /** `type/subtype`, lowercased. */
  mimeType: string;
  type: string;
  subtype: string;
  params: Params;
  /** True when the value was missing or invalid and the default was used. */
  defaulted: boolean;
}

export interface ContentDisposition {
  /** `inline`, `attachment`, … lowercased; empty when absent. */
  type: string;
  params: Params;
}

interface RawParam {
  name: string;
  section: number | null;
  extended: boolean;
  value: string;
}

function newParams(): Params {
  return Object.create(null) as Params;
}

/** Splits `; name=value` pairs; quoted strings may contain `;`, unquoted values run to the next `;`. */
function scanParams(text: string, start: number): RawParam[] {
  const out: RawParam[] = [];
  let i = start;
  const n = text.length;
  while (i < n) {
    while (i < n && (text[i] === ';' || text[i] === ' ' || text[i] === '\t' || text[i] === '\r' || text[i] === '\n')) i++;
    if (i >= n) break;
    const eq = findUnquoted(text, i, '=');
    const semi = findUnquoted(text, i, ';');
    if (eq < 0 || (semi >= 0 && semi < eq)) {
      i = semi < 0 ? n : semi + 1;
      continue;
    }
    const rawName = text.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    let value: string;
    if (text[i] === '"') {
      let j = i + 1;
      let v = '';
      while (j < n && text[j] !== '"') {
        if (text[j] === '\\' && j + 1 < n) j++;
        v += text[j];
        j++;
      }
      value = v;
      const next = findUnquoted(text, j + 1, ';');
      i = next < 0 ? n : next + 1;
    } else {
      const next = findUnquoted(text, i, ';');
      value = text.slice(i, next < 0 ? n : next).trim();
      i = next < 0 ? n : next + 1;
    }
    const m = /^([^*]+)(?:\*(\d+))?(\*)?$/.exec(rawName);
    if (!m) {
      out.push({ name: rawName, section: null, extended: false, value });
      continue;
    }
    out.push({ name: m[1]!.trim(), section: m[2] !== undefined ? Number(m[2]) : null, extended: m[3] === '*', value });
  }
  return out;
}

function findUnquoted(text: string, from: number, ch: string): number {
  let quoted = false;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ch && !quoted) return i;
  }
  return -1;
}

function percentDecode(value: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      out.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) out.push(c);
    else for (const b of Buffer.from(value[i]!, 'utf8')) out.push(b);
  }
  return out;
}

/**
 * Joins RFC 2231 sections (`name*0*=utf-8''a%20b; name*1=c`) and decodes charsets. Plain values
 * (quoted or not) are leniently RFC 2047 decoded, as mail clients do; RFC 2231 values are not. The first
 * occurrence of a plain parameter wins; an RFC 2231 form wins over a plain one of the same name.
 */
export function parseParams(text: string, start = 0): Params {
  const params = newParams();
  const raw = scanParams(text, start);
  const sections = new Map<string, RawParam[]>();
  for (const p of raw) {
    if (p.section === null && !p.extended) {
      if (!(p.name in params)) params[p.name] = decodeEncodedWords(p.value);
      continue;
    }
    let list = sections.get(p.name);
    if (!list) sections.set(p.name, (list = []));
    list.push(p);
  }
  for (const [name, list] of sections) {
    list.sort((a, b) => (a.section ?? 0) - (b.section ?? 0));
    let charset = '';
    const bytes: number[] = [];
    let seen = new Set<number>();
    for (const [index, p] of list.entries()) {
      const section = p.section ?? 0;
      if (seen.has(section)) continue;
      seen.add(section);
      let value = p.value;
      if (p.extended) {
        if (index === 0) {
          const q1 = value.indexOf("'");
          const q2 = q1 >= 0 ? value.indexOf("'", q1 + 1) : -1;
          if (q1 >= 0 && q2 >= 0) {
            charset = value.slice(0, q1);
            value = value.slice(q2 + 1);
          }
        }
        for (const b of percentDecode(value)) bytes.push(b);
      } else {
        for (const b of Buffer.from(value, 'utf8')) bytes.push(b);
      }
    }
    seen = new Set();
    const text = decodeText(Uint8Array.from(bytes), charset || 'utf-8');
    // An RFC 2231 extended value (name*= or name*0*=) is already encoded its own way and is never
    // RFC 2047 decoded: '=?' in it is literal text. Plain continuations (name*0="…") are quoted
    // strings split in pieces and get the same lenient decoding as a plain value.
    params[name] = list.some((p) => p.extended) ? text : decodeEncodedWords(text);
  }
  return params;
}

/** Removes RFC 5322 comments outside quoted strings. */
function stripComments(text: string): string {
  if (text.indexOf('(') < 0) return text;
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      if (depth === 0) out += c + text[i + 1];
      i++;
    } else if (c === '"' && depth === 0) {
      quoted = !quoted;
      out += c;
    } else if (c === '(' && !quoted) depth++;
    else if (c === ')' && !quoted && depth > 0) depth--;
    else if (depth === 0) out += c;
  }
  return out;
}

/** RFC 2045 §5.1 token character: US-ASCII printable except SPACE and tspecials. */
function isTokenChar(c: number): boolean {
  return c > 0x20 && c < 0x7f && '()<>@,;:\\"/[]?='.indexOf(String.fromCharCode(c)) < 0;
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

function skipBlanks(text: string, i: number): number {
  while (i < text.length && isBlank(text.charCodeAt(i))) i++;
  return i;
}

function skipToken(text: string, i: number): number {
  while (i < text.length && isTokenChar(text.charCodeAt(i))) i++;
  return i;
}

/**
 * Parses a Content-Type value. RFC 2045 §5.1 follows RFC 822 lexical rules, so white space
 * and comments may stand around the `/` (and around `=` in parameters): `TEXT / HTML` is
 * text/html. A missing or invalid type (no `/`, or not tokens) becomes `fallback` (text/plain,
 * or message/rfc822 inside multipart/digest) with `defaulted: true`; its parameters are still
 * read (RFC 2045 §5.2). A missing `;` before the first parameter is tolerated.
 */
export function parseContentType(value: string | undefined, fallback = 'text/plain'): ContentType {
  const text = value === undefined ? '' : stripComments(value);
  const typeStart = skipBlanks(text, 0);
  const typeEnd = skipToken(text, typeStart);
  const slash = skipBlanks(text, typeEnd);
  let valid = false;
  let token = '';
  let paramStart = 0;
  if (typeEnd > typeStart && text[slash] === '/') {
    const subStart = skipBlanks(text, slash + 1);
    const subEnd = skipToken(text, subStart);
    const after = subEnd < text.length ? text.charCodeAt(subEnd) : -1;
    if (subEnd > subStart && (after === -1 || after === 0x3b || isBlank(after))) {
      valid = true;
      token = (text.slice(typeStart, typeEnd) + '/' + text.slice(subStart, subEnd)).toLowerCase();
      paramStart = subEnd;
    }
  }
  if (!valid) {
    // parameters of an invalid type start after its first word
    let end = typeStart;
    while (end < text.length && text[end] !== ';' && !isBlank(text.charCodeAt(end))) end++;
    paramStart = end;
  }
  const params = parseParams(text, paramStart);
  const mimeType = valid ? token : fallback;
  const cut = mimeType.indexOf('/');
  return { mimeType, type: mimeType.slice(0, cut), subtype: mimeType.slice(cut + 1), params, defaulted: !valid };
}

export function parseContentDisposition(value: string | undefined): ContentDisposition {
  if (value === undefined) return { type: '', params: newParams() };
  const text = stripComments(value);
  const semi = findUnquoted(text, 0, ';');
  const type = text.slice(0, semi < 0 ? text.length : semi).trim().toLowerCase();
  return { type, params: semi < 0 ? newParams() : parseParams(text, semi + 1) };
}
