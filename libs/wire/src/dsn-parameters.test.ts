// RFC 3461's parameter grammar: xtext both ways, NOTIFY, RET, ENVID and ORCPT as a client may send them,
// and the forms written for the next hop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  decodeXtext,
  encodeXtext,
  formatOriginalRecipient,
  orcptParameter,
  parseEnvid,
  parseNotify,
  parseOrcpt,
  parseRet,
  splitOriginalRecipient,
  type Parsed,
} from './dsn-parameters.js';

const value = <T>(parsed: Parsed<T>): T => {
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  return parsed.value;
};
const error = <T>(parsed: Parsed<T>): string => {
  assert.ok(!parsed.ok, `accepted: ${JSON.stringify(parsed)}`);
  return parsed.error;
};

test('xtext leaves "!" to "~" alone except "+" and "=", and writes every other octet as +HH in upper case', () => {
  assert.equal(encodeXtext('user@example.com'), 'user@example.com');
  assert.equal(encodeXtext('a+b=c d'), 'a+2Bb+3Dc+20d');
  assert.equal(encodeXtext('\t\x7f'), '+09+7F');
  assert.equal(encodeXtext('é'), '+C3+A9', 'the octets of the UTF-8 form');
  assert.equal(encodeXtext(''), '');
});

test('xtext decodes +HH (either case) and refuses what is not xtext', () => {
  assert.equal(decodeXtext('a+2Bb+3Dc+20d'), 'a+b=c d');
  assert.equal(decodeXtext('+2b'), '+', 'lower-case hex is taken, as Postfix and Sendmail do');
  assert.equal(decodeXtext('+41BC'), 'ABC');
  for (const bad of ['a=b', 'a b', '+', '+4', '+4G', 'tab\there', 'é', '+2']) assert.equal(decodeXtext(bad), undefined, JSON.stringify(bad));
});

test('xtext round-trips any printable ASCII, and any encoding decodes to what was encoded', () => {
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)).join('');
  assert.equal(decodeXtext(encodeXtext(printable)), printable);
  for (let i = 0; i < 200; i++) {
    const text = randomBytes(1 + (i % 40)).toString('latin1').replace(/[^\x20-\x7e]/g, '');
    const encoded = encodeXtext(text);
    assert.match(encoded, /^[\x21-\x2a\x2c-\x3c\x3e-\x7e+]*$/);
    assert.equal(decodeXtext(encoded), text);
  }
});

test('NOTIFY is NEVER alone or a list of SUCCESS, FAILURE and DELAY, in any case and order', () => {
  assert.deepEqual(value(parseNotify('NEVER')), ['NEVER']);
  assert.deepEqual(value(parseNotify('never')), ['NEVER']);
  assert.deepEqual(value(parseNotify('SUCCESS,FAILURE')), ['SUCCESS', 'FAILURE']);
  assert.deepEqual(value(parseNotify('delay,Success')), ['SUCCESS', 'DELAY'], 'normalised to one order');
  assert.deepEqual(value(parseNotify('FAILURE,FAILURE')), ['FAILURE'], 'a repeated keyword counts once');
  assert.equal(error(parseNotify('NEVER,SUCCESS')), 'NOTIFY=NEVER cannot be combined with other values');
  assert.equal(error(parseNotify('SUCCESS,NEVER')), 'NOTIFY=NEVER cannot be combined with other values');
  assert.equal(error(parseNotify('SUCCESS,,FAILURE')), 'NOTIFY takes NEVER or SUCCESS, FAILURE, DELAY, not an empty item');
  assert.equal(error(parseNotify('SUCCESS,ALWAYS')), 'NOTIFY takes NEVER or SUCCESS, FAILURE, DELAY, not ALWAYS');
  assert.match(error(parseNotify(true)), /NOTIFY needs/);
  assert.match(error(parseNotify('')), /NOTIFY needs/);
});

test('RET is FULL or HDRS', () => {
  assert.equal(value(parseRet('FULL')), 'FULL');
  assert.equal(value(parseRet('hdrs')), 'HDRS');
  for (const bad of ['NONE', '', true] as const) assert.equal(error(parseRet(bad)), 'RET must be FULL or HDRS');
});

test('ENVID is xtext of at most 100 characters, decoded to printable ASCII', () => {
  assert.equal(value(parseEnvid('abc')), 'abc');
  assert.equal(value(parseEnvid('QQ+2B314+20x')), 'QQ+314 x');
  assert.equal(value(parseEnvid('x'.repeat(100))), 'x'.repeat(100));
  assert.equal(error(parseEnvid('x'.repeat(101))), 'ENVID longer than 100 characters');
  assert.equal(error(parseEnvid('a+ZZ')), 'ENVID is not valid xtext');
  assert.equal(error(parseEnvid('a+0D+0AInjected:+20yes')), 'ENVID must decode to printable US-ASCII', 'no CR LF into a report field');
  assert.equal(error(parseEnvid('+C3+A9')), 'ENVID must decode to printable US-ASCII');
  assert.match(error(parseEnvid(true)), /ENVID needs a value/);
});

test('ORCPT is address-type;xtext, kept with its type and decoded', () => {
  assert.deepEqual(value(parseOrcpt('rfc822;x@y')), { type: 'rfc822', address: 'x@y' });
  assert.deepEqual(value(parseOrcpt('RFC822;first+2Blast@example.com')), { type: 'RFC822', address: 'first+last@example.com' });
  assert.deepEqual(value(parseOrcpt('x400;c+3Dus;a+3D;p+3Dx')), { type: 'x400', address: 'c=us;a=;p=x' }, 'another type: only the first ";" splits');
  assert.match(error(parseOrcpt('x@y')), /address-type;address/);
  assert.equal(error(parseOrcpt('rf c822;x@y')), 'ORCPT address type is not an atom');
  assert.equal(error(parseOrcpt(';x@y')), 'ORCPT address type is not an atom');
  assert.equal(error(parseOrcpt('rfc822;x=y@z')), 'ORCPT address is not valid xtext');
  assert.equal(error(parseOrcpt('rfc822;')), 'ORCPT address must decode to printable US-ASCII');
  assert.equal(error(parseOrcpt('rfc822;x@y+0D+0A')), 'ORCPT address must decode to printable US-ASCII');
  assert.equal(error(parseOrcpt('rfc822;nobody')), 'ORCPT rfc822 address must be local-part@domain');
  assert.equal(error(parseOrcpt('rfc822;@y')), 'ORCPT rfc822 address must be local-part@domain');
  assert.equal(error(parseOrcpt(`rfc822;${'x'.repeat(500)}@y`)), 'ORCPT longer than 500 characters');
  assert.match(error(parseOrcpt(true)), /ORCPT needs a value/);
});

test('an original recipient is stored as type;address and passed on as type;xtext', () => {
  const stored = formatOriginalRecipient({ type: 'rfc822', address: 'a+b=c@example.com' });
  assert.equal(stored, 'rfc822;a+b=c@example.com');
  assert.deepEqual(splitOriginalRecipient(stored), { type: 'rfc822', address: 'a+b=c@example.com' });
  assert.equal(orcptParameter(stored), 'rfc822;a+2Bb+3Dc@example.com');
  assert.deepEqual(value(parseOrcpt(orcptParameter(stored))), { type: 'rfc822', address: 'a+b=c@example.com' }, 'what we send parses back');
});
