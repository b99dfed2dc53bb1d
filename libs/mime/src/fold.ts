// Header field formatting for the builder: RFC 2047 encoding of non-ASCII text, RFC 2231
// parameters, and folding at 78 characters with a hard limit of 998 (RFC 5322 §2.1.1).

import { encodeEncodedWords } from './encoded-word.js';

const SOFT_LIMIT = 78;
const HARD_LIMIT = 998;

/** `Name: value` folded at white space so lines stay within 78 characters where possible. */
export function foldHeader(name: string, value: string): string {
  const line = `${name}: ${value}`;
  if (line.length <= SOFT_LIMIT) return line;
  const words = line.split(/(?=[ \t])/);
  const lines: string[] = [];
  let current = '';
  for (const word of words) {
    if (current && current.length + word.length > SOFT_LIMIT) {
      lines.push(current);
      current = word;
    } else {
      current += word;
    }
    // a single unbreakable run: cut it hard so no line exceeds 998
    while (current.length > HARD_LIMIT) {
      lines.push(current.slice(0, HARD_LIMIT));
      current = ' ' + current.slice(HARD_LIMIT);
    }
  }
  if (current) lines.push(current);
  return lines.join('\r\n');
}

/**
 * Unstructured text (Subject, display names): encoded words when not printable ASCII or when it
 * contains `=?`, which a reader would otherwise decode as an encoded word (RFC 2047 §5).
 */
export function encodeUnstructured(text: string): string {
  return encodeEncodedWords(text.replace(/[\r\n]+/g, ' '));
}

/**
 * A whole unstructured field (RFC 5322 §3.6.5 Subject, Comments): as encodeUnstructured, and a
 * word too long to fit a 998-character line is not cut (a fold would insert a space into it)
 * but the text is written as encoded words, which split anywhere and decode back unchanged.
 */
export function foldUnstructured(name: string, text: string): string {
  const clean = text.replace(/[\r\n]+/g, ' ');
  let longest = 0;
  for (const word of clean.split(/[ \t]+/)) longest = Math.max(longest, word.length);
  const tooLong = name.length + 2 + longest > HARD_LIMIT;
  return foldHeader(name, encodeEncodedWords(clean, tooLong));
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * One `; name=value` parameter: a token as is, ASCII as a quoted string (unless it contains `=?`),
 * anything else as
 * RFC 2231 `name*=utf-8''…` (split into `name*0*`, `name*1*` sections when long).
 */
export function formatParam(name: string, value: string): string {
  if (TOKEN.test(value)) return `; ${name}=${value}`;
  // eslint-disable-next-line no-control-regex
  // a quoted value with '=?' would be RFC 2047 decoded by lenient readers: RFC 2231 keeps it literal
  if (/^[\x20-\x7e]*$/.test(value) && value.length < 60 && !value.includes('=?')) return `; ${name}="${value.replace(/(["\\])/g, '\\$1')}"`;
  const encoded = encodeURIComponent(value).replace(/['()*!]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  if (encoded.length <= 60) return `; ${name}*=utf-8''${encoded}`;
  const sections: string[] = [];
  let rest = encoded;
  while (rest.length) {
    let cut = Math.min(60, rest.length);
    // never split a %XX escape
    const pct = rest.lastIndexOf('%', cut - 1);
    if (pct > cut - 3 && pct >= 0 && cut < rest.length) cut = pct;
    sections.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  return sections.map((s, i) => `; ${name}*${i}*=${i === 0 ? "utf-8''" : ''}${s}`).join('');
}
