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

test('adjacent ISO-2022-JP words are each decoded on their own (RFC 2047 5)', () => {
  // three self-contained words, each ESC $ B ... ESC ( B: "日本語" "の" "件名"
  const words = ['\x1b$BF|K\\8l\x1b(B', '\x1b$B$N\x1b(B', '\x1b$B7oL>\x1b(B'].map((w) => `=?iso-2022-jp?B?${Buffer.from(w, 'latin1').toString('base64')}?=`);
  assert.equal(decodeEncodedWords(words.join('\r\n ')), '日本語の件名');
  assert.equal(decodeEncodedWords(`Re: ${words.join(' ')} x`), 'Re: 日本語の件名 x');
});

test('decoding a run of same-charset words is linear in its length', () => {
  // A run of n adjacent words of 45 bytes each: 8 times the words must take about 8 times the
  // work (linear), not 64 times (each word copying the run so far, as before).
  const word = `=?utf-8?B?${Buffer.from('é'.repeat(22) + 'x').toString('base64')}?=`;
  const run = (n: number): string => Array.from({ length: n }, () => word).join(' ');
  // CPU time of this process (not wall-clock), best of a few rounds: other load on the
  // machine does not count
  const time = (s: string, rounds: number): number => {
    let best = Infinity;
    for (let r = 0; r < rounds; r++) {
      const t0 = process.cpuUsage();
      decodeEncodedWords(s);
      const t = process.cpuUsage(t0);
      best = Math.min(best, t.user + t.system);
    }
    return best;
  };
  const small = run(5_000);
  const large = run(40_000);
  assert.equal(decodeEncodedWords(small), ('é'.repeat(22) + 'x').repeat(5_000));
  time(small, 2); // warm-up
  const ratio = time(large, 3) / time(small, 5);
  // linear is ~8x, quadratic ~64x; the bound is generous for a shared, noisy machine
  assert.ok(ratio < 24, `40k words took ${ratio.toFixed(1)}x the time of 5k`);
});
