import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEncodedWords, encodeEncodedWords } from './index.js';

test('B and Q encoded words are decoded (RFC 2047 4)', () => {
  assert.equal(decodeEncodedWords('=?UTF-8?B?SGVsbG8=?= =?iso-8859-1?Q?caf=E9_au_lait?='), 'Hellocafé au lait');
});

test('white space between adjacent encoded words is dropped (RFC 2047 6.2)', () => {
  assert.equal(decodeEncodedWords('=?utf-8?q?a?=\r\n =?utf-8?q?b?= c'), 'ab c');
});

test('white space between an encoded word and text is kept', () => {
  assert.equal(decodeEncodedWords('Re: =?utf-8?q?x?= y'), 'Re: x y');
});

test('a UTF-8 character split across two words is joined before decoding', () => {
  // "é" is C3 A9, split between the words
  assert.equal(decodeEncodedWords('=?utf-8?Q?caf=C3?= =?utf-8?Q?=A9?='), 'café');
});

test('a Shift_JIS character split across words is joined before decoding', () => {
  const bytes = Buffer.from([0x82, 0xa0]); // あ
  const w1 = `=?shift_jis?B?${bytes.subarray(0, 1).toString('base64')}?=`;
  const w2 = `=?shift_jis?B?${bytes.subarray(1).toString('base64')}?=`;
  assert.equal(decodeEncodedWords(`${w1} ${w2}`), 'あ');
});

test('legacy charsets and RFC 2231 language suffixes are understood', () => {
  assert.equal(decodeEncodedWords('=?koi8-r?B?8NLJ18XU?='), 'Привет');
  assert.equal(decodeEncodedWords('=?utf-8*en?Q?hi?='), 'hi');
  assert.equal(decodeEncodedWords('=?ISO-2022-JP?B?GyRCJEgbKEI=?='), 'と');
});

test('encoded words glued to text are decoded leniently', () => {
  assert.equal(decodeEncodedWords('pre=?utf-8?q?x?=post'), 'prexpost');
});

test('malformed encoded words are left as written', () => {
  assert.equal(decodeEncodedWords('=?utf-8?x?abc?= and =?broken'), '=?utf-8?x?abc?= and =?broken');
});

test('encoding produces words of at most 75 characters that decode back', () => {
  const text = 'Grüße aus Köln — ' + 'ü'.repeat(80);
  const encoded = encodeEncodedWords(text);
  for (const word of encoded.split(' ')) assert.ok(word.length <= 75, word);
  assert.equal(decodeEncodedWords(encoded), text);
  assert.equal(encodeEncodedWords('plain ascii'), 'plain ascii');
});
