// The SMTP parameters of Delivery Status Notifications (RFC 3461): xtext (§4), NOTIFY and ORCPT on RCPT
// (§4.1, §4.2), RET and ENVID on MAIL (§4.3, §4.4). Pure functions: smtp-ingress parses what a client
// sends with them, delivery-agent writes what it passes on to the next hop. No I/O, no state.

/** The conditions a recipient's NOTIFY names: NEVER alone, or any of the other three. */
export type NotifyKeyword = 'SUCCESS' | 'FAILURE' | 'DELAY' | 'NEVER';
/** RET: the whole message, or only its header section, in a failure report. */
export type DsnReturn = 'FULL' | 'HDRS';

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** ENVID is at most 100 characters (RFC 3461 §4.4), ORCPT at most 500 (§4.2), as sent (xtext). */
export const MAX_ENVID_LENGTH = 100;
export const MAX_ORCPT_LENGTH = 500;

const HEX = '0123456789ABCDEF';

/**
 * xtext (RFC 3461 §4): the characters "!" to "~" except "+" and "=" stand for themselves, every other
 * octet (of the UTF-8 form) is "+" and two upper-case hex digits.
 */
export function encodeXtext(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x21 && byte <= 0x7e && byte !== 0x2b && byte !== 0x3d ? String.fromCharCode(byte) : `+${HEX[byte >> 4]}${HEX[byte & 15]}`;
  }
  return out;
}

/**
 * Decodes xtext; undefined when it is not xtext (a character outside "!".."~", a bare "=", a "+" not
 * followed by two hex digits). Lower-case hex digits are taken too, as Postfix and Sendmail do. The
 * result is latin1 per octet: callers accept only printable US-ASCII anyway.
 */
export function decodeXtext(xtext: string): string | undefined {
  let out = '';
  for (let i = 0; i < xtext.length; i++) {
    const c = xtext.charCodeAt(i);
    if (c === 0x2b) {
      const hex = xtext.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      out += String.fromCharCode(parseInt(hex, 16));
      i += 2;
    } else if (c >= 0x21 && c <= 0x7e && c !== 0x3d) out += xtext[i];
    else return undefined;
  }
  return out;
}

/** RFC 3461 §4.2, §4.4: the decoded ENVID and ORCPT address are printable US-ASCII (graphic and space). */
const PRINTABLE = /^[\x20-\x7e]*$/;
/** An RFC 822 atom: an ORCPT's address type (rfc822, utf-8, x400, ...). */
const ATOM = /^[!#$%&'*+\-/0-9=?A-Z^_`a-z{|}~]+$/;

/** RET=FULL or RET=HDRS (§4.3), case-insensitive. */
export function parseRet(value: string | true): Parsed<DsnReturn> {
  const ret = value === true ? '' : value.toUpperCase();
  if (ret !== 'FULL' && ret !== 'HDRS') return { ok: false, error: 'RET must be FULL or HDRS' };
  return { ok: true, value: ret };
}

/** ENVID=<xtext> (§4.4): the identifier, decoded. */
export function parseEnvid(value: string | true): Parsed<string> {
  if (value === true || value === '') return { ok: false, error: 'ENVID needs a value (xtext)' };
  if (value.length > MAX_ENVID_LENGTH) return { ok: false, error: `ENVID longer than ${MAX_ENVID_LENGTH} characters` };
  const decoded = decodeXtext(value);
  if (decoded === undefined) return { ok: false, error: 'ENVID is not valid xtext' };
  if (!PRINTABLE.test(decoded)) return { ok: false, error: 'ENVID must decode to printable US-ASCII' };
  return { ok: true, value: decoded };
}

/**
 * NOTIFY=NEVER, or a comma list of SUCCESS, FAILURE and DELAY (§4.1), case-insensitive. The result is
 * upper case, each keyword once, in the order SUCCESS, FAILURE, DELAY.
 */
export function parseNotify(value: string | true): Parsed<NotifyKeyword[]> {
  if (value === true || value === '') return { ok: false, error: 'NOTIFY needs NEVER or a list of SUCCESS, FAILURE, DELAY' };
  const words = value.toUpperCase().split(',');
  const known = new Set<NotifyKeyword>();
  for (const word of words) {
    if (word !== 'SUCCESS' && word !== 'FAILURE' && word !== 'DELAY' && word !== 'NEVER') {
      return { ok: false, error: `NOTIFY takes NEVER or SUCCESS, FAILURE, DELAY, not ${word === '' ? 'an empty item' : quotable(word)}` };
    }
    known.add(word);
  }
  if (known.has('NEVER')) {
    if (words.length > 1) return { ok: false, error: 'NOTIFY=NEVER cannot be combined with other values' };
    return { ok: true, value: ['NEVER'] };
  }
  return { ok: true, value: (['SUCCESS', 'FAILURE', 'DELAY'] as const).filter((w) => known.has(w)) };
}

/** An original recipient (ORCPT): its address type as given (`rfc822` mostly) and the address, decoded. */
export interface OriginalRecipient {
  type: string;
  address: string;
}

/** ORCPT=<addr-type>;<xtext> (§4.2). For type rfc822 the address must look like local@domain. */
export function parseOrcpt(value: string | true): Parsed<OriginalRecipient> {
  if (value === true || value === '') return { ok: false, error: 'ORCPT needs a value: address-type;address' };
  if (value.length > MAX_ORCPT_LENGTH) return { ok: false, error: `ORCPT longer than ${MAX_ORCPT_LENGTH} characters` };
  const semicolon = value.indexOf(';');
  if (semicolon < 0) return { ok: false, error: 'ORCPT must be address-type;address (e.g. rfc822;user@example.com)' };
  const type = value.slice(0, semicolon);
  if (!ATOM.test(type)) return { ok: false, error: 'ORCPT address type is not an atom' };
  const address = decodeXtext(value.slice(semicolon + 1));
  if (address === undefined) return { ok: false, error: 'ORCPT address is not valid xtext' };
  if (address === '' || !PRINTABLE.test(address)) return { ok: false, error: 'ORCPT address must decode to printable US-ASCII' };
  if (type.toLowerCase() === 'rfc822') {
    const at = address.lastIndexOf('@');
    if (at <= 0 || at === address.length - 1 || /\s/.test(address.slice(at))) return { ok: false, error: 'ORCPT rfc822 address must be local-part@domain' };
  }
  return { ok: true, value: { type, address } };
}

/**
 * The stored form of an original recipient, as the Original-Recipient field of a report writes it
 * (RFC 3464 §2.3.1): `type;address`, the address decoded. The type is an atom, so the first ";" splits.
 */
export const formatOriginalRecipient = (orcpt: OriginalRecipient): string => `${orcpt.type};${orcpt.address}`;

export function splitOriginalRecipient(stored: string): OriginalRecipient {
  const semicolon = stored.indexOf(';');
  return semicolon < 0 ? { type: 'rfc822', address: stored } : { type: stored.slice(0, semicolon), address: stored.slice(semicolon + 1) };
}

/** The ORCPT parameter's value for the next hop: `type;xtext`. */
export const orcptParameter = (stored: string): string => {
  const { type, address } = splitOriginalRecipient(stored);
  return `${type};${encodeXtext(address)}`;
};

/** A client's token as a reply may quote it: printable ASCII, short. */
function quotable(token: string): string {
  const printable = token.replace(/[^\x21-\x7e]/g, '?');
  return printable.length > 32 ? `${printable.slice(0, 32)}...` : printable;
}
