// RFC 5322 §3.4 address lists: mailboxes with display names, angle addresses with
// obsolete routes, groups, comments, quoted local parts, and UTF-8 (RFC 6532).

import { decodeEncodedWords } from './encoded-word.js';

export interface Address {
  /** Display name, RFC 2047 decoded, quotes removed; '' when there is none. */
  name: string;
  /** addr-spec (`local@domain`); '' for `<>`. */
  address: string;
  /** Display name of the group this mailbox belongs to, if any. */
  group?: string;
}

type Token =
  | { kind: 'atom'; text: string }
  | { kind: 'quoted'; text: string }
  | { kind: 'special'; text: string };

const SPECIALS = '<>,;:';

function tokenize(value: string): Token[] {
  const tokens: Token[] = [];
  const n = value.length;
  let i = 0;
  while (i < n) {
    const c = value[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
    } else if (c === '(') {
      // comment: skipped, nesting and escapes respected
      let depth = 0;
      for (; i < n; i++) {
        const d = value[i];
        if (d === '\\') i++;
        else if (d === '(') depth++;
        else if (d === ')' && --depth === 0) break;
      }
      i++;
    } else if (c === '"') {
      let text = '';
      i++;
      while (i < n && value[i] !== '"') {
        if (value[i] === '\\' && i + 1 < n) i++;
        text += value[i];
        i++;
      }
      i++;
      tokens.push({ kind: 'quoted', text });
    } else if (SPECIALS.includes(c)) {
      tokens.push({ kind: 'special', text: c });
      i++;
    } else {
      let j = i;
      while (j < n && !SPECIALS.includes(value[j]!) && !' \t\r\n"('.includes(value[j]!)) j++;
      tokens.push({ kind: 'atom', text: value.slice(i, j) });
      i = j;
    }
  }
  return tokens;
}

function quoteLocal(text: string): string {
  return /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.\u0080-\uffff]*$/.test(text) ? text : `"${text.replace(/(["\\])/g, '\\$1')}"`;
}

/** Joins addr-spec tokens: quoted local parts are kept quoted only when they need it. */
function addrSpecText(tokens: Token[]): string {
  let out = '';
  for (const t of tokens) out += t.kind === 'quoted' ? quoteLocal(t.text) : t.text;
  return out;
}

function phraseText(tokens: Token[]): string {
  const joined = tokens.map((t) => t.text).join(' ');
  return decodeEncodedWords(joined).trim();
}

/**
 * Parses an address list (To, Cc, From, Reply-To…) into mailboxes; groups are flattened with
 * the group name on each member. Never throws: unparseable pieces are skipped.
 */
export function parseAddressList(value: string): Address[] {
  const tokens = tokenize(value);
  const out: Address[] = [];
  let phrase: Token[] = [];
  let group: string | undefined;
  let i = 0;
  const pushBare = (): void => {
    if (!phrase.length) return;
    // Without angle brackets the tokens are an addr-spec; bare words stay as the address.
    const address = addrSpecText(phrase);
    out.push(group === undefined ? { name: '', address } : { name: '', address, group });
    phrase = [];
  };
  while (i < tokens.length) {
    const t = tokens[i]!;
    if (t.kind !== 'special') {
      phrase.push(t);
      i++;
      continue;
    }
    if (t.text === '<') {
      const inner: Token[] = [];
      i++;
      while (i < tokens.length && !(tokens[i]!.kind === 'special' && tokens[i]!.text === '>')) inner.push(tokens[i++]!);
      i++;
      // obs-route: "<@a,@b:user@host>" drops everything up to the colon
      const colon = inner.findIndex((x) => x.kind === 'special' && x.text === ':');
      const spec = (colon >= 0 ? inner.slice(colon + 1) : inner).filter((x) => x.kind !== 'special');
      const name = phraseText(phrase);
      const address = addrSpecText(spec);
      out.push(group === undefined ? { name, address } : { name, address, group });
      phrase = [];
      // anything after '>' up to the next separator is ignored
      while (i < tokens.length && !(tokens[i]!.kind === 'special' && (tokens[i]!.text === ',' || tokens[i]!.text === ';'))) i++;
      continue;
    }
    if (t.text === ':' && group === undefined) {
      group = phraseText(phrase);
      phrase = [];
    } else if (t.text === ';') {
      pushBare();
      group = undefined;
    } else if (t.text === ',') {
      pushBare();
    } else if (t.text === '>') {
      // stray '>': ignore
    } else {
      phrase.push({ kind: 'atom', text: t.text });
    }
    i++;
  }
  pushBare();
  return out;
}

/** Formats one mailbox for a header, quoting the display name when needed. */
export function formatAddress(address: { name?: string; address: string }): string {
  if (!address.name) return address.address;
  const name = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]*$/.test(address.name) ? address.name : `"${address.name.replace(/(["\\])/g, '\\$1')}"`;
  return `${name} <${address.address}>`;
}
