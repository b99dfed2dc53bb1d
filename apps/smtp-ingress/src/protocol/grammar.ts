// SMTP command grammar (RFC 5321 §4.1, RFC 1869 parameters, RFC 6531 for UTF-8): no I/O, no state.

export interface CommandLine {
  verb: string;
  /** Everything after the verb and one space, unparsed. */
  argument: string;
}

export function parseCommandLine(line: string): CommandLine {
  const space = line.indexOf(' ');
  const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
  return { verb, argument: space < 0 ? '' : line.slice(space + 1) };
}

export interface PathArgument {
  /** Mailbox without angle brackets; '' for the null path `<>`. */
  address: string;
  parameters: Map<string, string | true>;
  /** True when the address has non-ASCII characters (needs SMTPUTF8). */
  utf8: boolean;
}

/** `parameters`: the fault is in the ESMTP parameters (a repeated one), answered as a syntax error (501 5.5.4). */
export type PathResult = { ok: true; value: PathArgument } | { ok: false; error: string; parameters?: true };

// RFC 5321 §4.1.2 atext, extended to UTF-8 (RFC 6531 atext = atext / UTF8-non-ascii). U+FFFD is left
// out: the line reader decodes bytes that are not UTF-8 to it, and such an address or name is refused
// rather than accepted in a form the client never sent.
const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uFFFC\uFFFE-\u{10FFFF}]+$/u;
const DOT_STRING = (s: string) => s.split('.').every((atom) => ATEXT.test(atom));
const QUOTED_STRING = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\uFFFC\uFFFE-\u{10FFFF}]|\\[\x20-\x7e])*"$/u;
const LABEL = /^[A-Za-z0-9\u0080-\uFFFC\uFFFE-\u{10FFFF}](?:[A-Za-z0-9\-\u0080-\uFFFC\uFFFE-\u{10FFFF}]*[A-Za-z0-9\u0080-\uFFFC\uFFFE-\u{10FFFF}])?$/u;
const ADDRESS_LITERAL = /^\[(?:\d{1,3}(?:\.\d{1,3}){3}|IPv6:[0-9A-Fa-f:.]+)\]$/;
const ESMTP_KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const ESMTP_VALUE = /^[\x21-\x3c\x3e-\x7e\u0080-\u{10FFFF}]+$/u;

export const isDomain = (domain: string): boolean =>
  domain.length > 0 && domain.length <= 255 && (ADDRESS_LITERAL.test(domain) || domain.split('.').every((l) => LABEL.test(l)));

/** Validates `local@domain` (RFC 5321 §4.1.2 Mailbox) with the size limits of §4.5.3.1. */
export function validateMailbox(mailbox: string): string | undefined {
  const at = mailbox.lastIndexOf('@');
  if (at <= 0) return 'address must be local-part@domain';
  const local = mailbox.slice(0, at);
  const domain = mailbox.slice(at + 1);
  if (Buffer.byteLength(local) > 64) return 'local part longer than 64 octets';
  if (!(DOT_STRING(local) || QUOTED_STRING.test(local))) return 'invalid local part';
  if (!isDomain(domain)) return 'invalid domain';
  return undefined;
}

/**
 * Parses the argument of MAIL (`FROM:<path> params`) or RCPT (`TO:<path> params`).
 * A space after the colon is tolerated, as most servers do.
 */
export function parsePathArgument(argument: string, keyword: 'FROM' | 'TO', allowNull: boolean): PathResult {
  const prefix = `${keyword}:`;
  if (argument.slice(0, prefix.length).toUpperCase() !== prefix) {
    return { ok: false, error: `Syntax: ${keyword === 'FROM' ? 'MAIL FROM:<address>' : 'RCPT TO:<address>'}` };
  }
  const rest = argument.slice(prefix.length).trimStart();
  if (!rest.startsWith('<')) return { ok: false, error: 'Address must be enclosed in <>' };
  const close = findClosingBracket(rest);
  if (close < 0) return { ok: false, error: 'Missing closing >' };
  let address = rest.slice(1, close);
  // Source routes (<@a,@b:user@c>) are obsolete; RFC 5321 §3.3 says to ignore them.
  if (address.startsWith('@')) {
    const colon = address.indexOf(':');
    if (colon < 0) return { ok: false, error: 'Invalid source route' };
    address = address.slice(colon + 1);
  }
  if (Buffer.byteLength(address) > 254) return { ok: false, error: 'Path longer than 256 octets' };
  if (address === '') {
    if (!allowNull) return { ok: false, error: 'Null path not allowed here' };
  } else if (!(keyword === 'TO' && address.toLowerCase() === 'postmaster')) {
    const problem = validateMailbox(address);
    if (problem) return { ok: false, error: `Bad address syntax: ${problem}` };
  }
  const parameters = new Map<string, string | true>();
  const tail = rest.slice(close + 1);
  if (tail !== '' && !tail.startsWith(' ')) return { ok: false, error: 'Parameters must follow the path after a space' };
  for (const token of tail.split(' ').filter((t) => t !== '')) {
    const eq = token.indexOf('=');
    const name = (eq < 0 ? token : token.slice(0, eq)).toUpperCase();
    const value = eq < 0 ? true : token.slice(eq + 1);
    if (!ESMTP_KEYWORD.test(name) || (value !== true && !ESMTP_VALUE.test(value))) {
      return { ok: false, error: `Invalid parameter ${quotable(token)}` };
    }
    // RFC 3461 §4 (and RFC 1869's keyword=value model): a parameter is given at most once.
    if (parameters.has(name)) return { ok: false, error: `Duplicate parameter ${quotable(name)}`, parameters: true };
    parameters.set(name, value);
  }
  return { ok: true, value: { address, parameters, utf8: /[^\x00-\x7f]/.test(address) } };
}

/** A client's token as a reply may quote it: printable ASCII only, short enough for a 512-octet reply line. */
function quotable(token: string): string {
  const printable = token.replace(/[^\x21-\x7e]/g, '?');
  return printable.length > 64 ? `${printable.slice(0, 64)}...` : printable;
}

/** Index of the `>` that closes the path, skipping over quoted local parts. */
function findClosingBracket(text: string): number {
  let quoted = false;
  for (let i = 1; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === '>' && !quoted) return i;
  }
  return -1;
}
