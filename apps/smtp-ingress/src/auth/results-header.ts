// The Authentication-Results header field (RFC 8601): written once per message with this server's
// authserv-id, and every field arriving from outside that claims our authserv-id taken out first
// (§5), so that a reader can trust the one naming us. Pure: bytes and text in, bytes and text out.
import type { AuthVerdict, MethodResult } from './verdict.js';

/** RFC 2045 token characters: a property value outside them is written as a quoted-string. */
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/;
/** [local-part "@"] domain-name (RFC 8601 §2.2 pvalue), as addresses and domains are written. */
const ADDRESS = /^(?:[!#$%&'*+\-.0-9A-Z^_`a-z{|}~/=?]*@)?[0-9A-Za-z](?:[0-9A-Za-z.-]*[0-9A-Za-z])?$/;

const quoted = (text: string) => `"${text.replace(/[\r\n]+/g, ' ').replace(/["\\]/g, '\\$&')}"`;
const pvalue = (text: string) => (TOKEN.test(text) || ADDRESS.test(text) ? text : quoted(text));
/** A comment (RFC 5322 §3.2.2) from untrusted text: no line breaks, parentheses and backslashes escaped. */
const comment = (text: string) => `(${text.replace(/[\r\n\t]+/g, ' ').replace(/[()\\]/g, '\\$&').slice(0, 200)})`;

function formatResinfo(r: MethodResult): string {
  const parts = [`${r.method}=${r.result}`];
  if (r.comment) parts.push(comment(r.comment));
  for (const [name, value] of r.properties) parts.push(`${name}=${pvalue(value)}`);
  return parts.join(' ');
}

/** The whole field, CRLF-terminated, one resinfo per folded line. */
export function formatAuthenticationResults(authservId: string, verdict: AuthVerdict): string {
  const resinfos = verdict.results.map(formatResinfo);
  if (resinfos.length === 0) return `Authentication-Results: ${authservId}; none\r\n`;
  return `Authentication-Results: ${authservId};\r\n\t${resinfos.join(';\r\n\t')}\r\n`;
}

/**
 * The authserv-id an Authentication-Results value starts with (RFC 8601 §2.2: [CFWS] value, where value
 * is a token or a quoted-string), or undefined when there is none.
 */
export function authservIdOf(value: string): string | undefined {
  let i = 0;
  // skip whitespace and (nested) comments
  for (;;) {
    while (i < value.length && /\s/.test(value[i]!)) i++;
    if (value[i] !== '(') break;
    let depth = 0;
    for (; i < value.length; i++) {
      const c = value[i];
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')' && --depth === 0) {
        i++;
        break;
      }
    }
  }
  if (value[i] === '"') {
    let id = '';
    for (i++; i < value.length && value[i] !== '"'; i++) id += value[i] === '\\' ? value[++i] ?? '' : value[i];
    return id;
  }
  const match = /^[^\s;()"]+/.exec(value.slice(i));
  return match?.[0];
}

/**
 * The message without the Authentication-Results fields of its header section that claim `authservId`
 * (compared case-insensitively, as domain names are), as slices of `message` to be written in order:
 * nothing is copied here. The body is never looked at.
 */
export function withoutClaimsOf(message: Buffer, authservId: string): Buffer[] {
  const wanted = authservId.toLowerCase();
  const kept: Buffer[] = [];
  let keptFrom = 0;
  let pos = 0;
  while (pos < message.length) {
    const fieldStart = pos;
    let end = nextLineStart(message, pos);
    if (end - pos <= 2 && (message[pos] === 0x0d || message[pos] === 0x0a)) break; // the blank line: the body follows
    // continuation lines (starting with a space or tab) belong to this field
    while (end < message.length && (message[end] === 0x20 || message[end] === 0x09)) end = nextLineStart(message, end);
    pos = end;
    const colon = message.indexOf(0x3a, fieldStart);
    if (colon < 0 || colon >= end) break; // not a header field: the header section is over
    const name = message.toString('latin1', fieldStart, colon).trim().toLowerCase();
    if (name !== 'authentication-results') continue;
    const value = message.toString('latin1', colon + 1, end).replace(/\r?\n/g, '');
    if (authservIdOf(value)?.toLowerCase() !== wanted) continue;
    if (fieldStart > keptFrom) kept.push(message.subarray(keptFrom, fieldStart));
    keptFrom = end;
  }
  if (keptFrom < message.length) kept.push(message.subarray(keptFrom));
  return kept;
}

function nextLineStart(bytes: Buffer, from: number): number {
  const lf = bytes.indexOf(0x0a, from);
  return lf < 0 ? bytes.length : lf + 1;
}
