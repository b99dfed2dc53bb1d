// Charset labels and text decoding. Node's TextDecoder (full ICU) does most of the work;
// this file owns the label aliases mail uses that the WHATWG list lacks, windows-1252 (and the
// labels the WHATWG Encoding standard maps to it) and UTF-7.

import { TextDecoder } from 'node:util';
import { latin1Decode } from './bytes.js';

const ALIASES: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, {
  'utf8': 'utf-8',
  'ascii': 'us-ascii',
  'ansi_x3.4-1968': 'us-ascii',
  'cp932': 'shift_jis',
  'sjis': 'shift_jis',
  'shift-jis': 'shift_jis',
  'x-sjis': 'shift_jis',
  'windows-31j': 'shift_jis',
  'cp936': 'gbk',
  'ms936': 'gbk',
  'cp949': 'euc-kr',
  'ks_c_5601': 'euc-kr',
  'ks_c_5601-1987': 'euc-kr',
  'ks_c_5601-1989': 'euc-kr',
  'cp850': 'ibm850',
  'cp866': 'ibm866',
  'big5-hkscs': 'big5',
  'x-mac-roman': 'macintosh',
  'mac': 'macintosh',
  'latin-1': 'iso-8859-1',
  'iso8859-1': 'iso-8859-1',
  'iso_8859_1': 'iso-8859-1',
  'unicode-1-1-utf-7': 'utf-7',
  'x-unicode20utf8': 'utf-8',
});

/**
 * Labels the WHATWG Encoding standard (§4.2) maps to windows-1252, as normalizeCharset leaves
 * them. Mail software writes iso-8859-1 and us-ascii but means windows-1252 (smart quotes, €).
 */
const WINDOWS_1252 = new Set([
  'windows-1252', 'x-cp1252', 'cp1252', 'us-ascii', 'ascii', 'ansi_x3.4-1968', 'iso-8859-1', 'iso-ir-100',
  'iso88591', 'iso_8859-1', 'iso_8859-1:1987', 'l1', 'latin1', 'csisolatin1', 'cp819', 'ibm819',
]);

// windows-1252 bytes 0x80-0x9F (WHATWG index-windows-1252); the other bytes equal their code point.
// Written out here because Node 20's TextDecoder decodes windows-1252 as Latin-1 (C1 controls).
const CP1252_80_9F =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

/** windows-1252 without the runtime's table: Latin-1 plus the 32 code points above. */
export function decodeWindows1252(bytes: Uint8Array): string {
  const text = latin1Decode(bytes);
  let c1 = false;
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i]! & 0xe0) === 0x80) {
      c1 = true;
      break;
    }
  }
  return c1 ? text.replace(/[\x80-\x9f]/g, (c) => CP1252_80_9F[c.charCodeAt(0) - 0x80]!) : text;
}

const decoderCache = new Map<string, TextDecoder | null>();

/** Lowercased, trimmed label with mail-world aliases resolved (e.g. cp1252 → windows-1252). */
export function normalizeCharset(label: string): string {
  let name = label.trim().toLowerCase().replace(/^["']+|["']+$/g, '');
  // RFC 2231 language suffix sometimes leaks into charset labels: utf-8*en
  const star = name.indexOf('*');
  if (star > 0) name = name.slice(0, star);
  const alias = ALIASES[name];
  if (alias) return alias;
  const cp = /^(?:cp|windows)[-_]?(125\d|874)$/.exec(name);
  if (cp) return `windows-${cp[1]}`;
  const iso = /^iso[-_ ]?8859[-_ ]?(\d{1,2})(?::\d+)?$/.exec(name);
  if (iso) return `iso-8859-${iso[1]}`;
  return name;
}

function decoderFor(charset: string): TextDecoder | null {
  let decoder = decoderCache.get(charset);
  if (decoder === undefined) {
    try {
      decoder = new TextDecoder(charset);
    } catch {
      decoder = null;
    }
    decoderCache.set(charset, decoder);
  }
  return decoder;
}

/** True when text in this charset can be decoded (TextDecoder knows it, or it is UTF-7). */
export function isKnownCharset(label: string): boolean {
  const name = normalizeCharset(label);
  return name === 'utf-7' || WINDOWS_1252.has(name) || decoderFor(name) !== null;
}

/**
 * Decodes bytes in the given charset; unknown labels fall back to UTF-8 (with U+FFFD for
 * invalid bytes) and report `known: false` so the caller can record a defect.
 */
export function decodeCharset(bytes: Uint8Array, label: string | undefined): { text: string; known: boolean } {
  const name = label ? normalizeCharset(label) : 'us-ascii';
  if (name === 'utf-7') return { text: decodeUtf7(bytes), known: true };
  if (WINDOWS_1252.has(name)) return { text: decodeWindows1252(bytes), known: true };
  const decoder = decoderFor(name);
  if (decoder) return { text: decoder.decode(bytes), known: true };
  return { text: decoderFor('utf-8')!.decode(bytes), known: false };
}

export function decodeText(bytes: Uint8Array, label: string | undefined): string {
  return decodeCharset(bytes, label).text;
}

/** RFC 2152 UTF-7: `+` starts modified base64 of UTF-16BE, `-` or any non-base64 char ends it. */
function decodeUtf7(bytes: Uint8Array): string {
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const c = bytes[i]!;
    if (c !== 0x2b) {
      out += String.fromCharCode(c < 0x80 ? c : 0xfffd);
      i++;
      continue;
    }
    i++;
    if (bytes[i] === 0x2d) {
      out += '+';
      i++;
      continue;
    }
    let bits = 0;
    let acc = 0;
    const units: number[] = [];
    while (i < bytes.length) {
      const v = B64.indexOf(String.fromCharCode(bytes[i]!));
      if (v < 0) break;
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 16) {
        bits -= 16;
        units.push((acc >> bits) & 0xffff);
      }
      i++;
    }
    if (bytes[i] === 0x2d) i++;
    out += String.fromCharCode(...units);
  }
  return out;
}
