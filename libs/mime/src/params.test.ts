import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseContentDisposition, parseContentType, parseDate, parseMessage } from './index.js';

test('content type and parameters are parsed, names lowercased, quotes removed', () => {
  const ct = parseContentType('Text/HTML; Charset="UTF-8"; format=flowed');
  assert.equal(ct.mimeType, 'text/html');
  assert.equal(ct.params['charset'], 'UTF-8');
  assert.equal(ct.params['format'], 'flowed');
});

test('a missing or invalid type defaults to text/plain (RFC 2045 5.2)', () => {
  assert.equal(parseContentType(undefined).mimeType, 'text/plain');
  assert.equal(parseContentType('garbage; charset=x').defaulted, true);
  assert.equal(parseContentType('garbage; charset=x').params['charset'], 'x');
});

test('RFC 2231 continuations and charsets are joined and decoded', () => {
  const cd = parseContentDisposition("attachment; filename*0*=utf-8''%E6%97%A5%E6%9C%AC; filename*1*=%E8%AA%9E; filename*2=.txt");
  assert.equal(cd.type, 'attachment');
  assert.equal(cd.params['filename'], '日本語.txt');
  assert.equal(parseContentType("text/plain; title*=iso-8859-1'en'caf%E9").params['title'], 'café');
});

test('encoded words inside quoted filenames are decoded', () => {
  assert.equal(parseContentDisposition('attachment; filename="=?utf-8?B?w6kudHh0?="').params['filename'], 'é.txt');
});

test('the first of duplicate parameters wins', () => {
  assert.equal(parseContentType('multipart/mixed; boundary="a"; boundary="b"').params['boundary'], 'a');
});

test('a __proto__ parameter is an ordinary parameter', () => {
  const ct = parseContentType('text/plain; __proto__=x');
  assert.equal(ct.params['__proto__'], 'x');
});

test('dates, including obsolete forms, become timestamps (RFC 5322 3.3, 4.3)', () => {
  assert.equal(parseDate('Fri, 21 Nov 1997 09:55:06 -0600'), Date.UTC(1997, 10, 21, 15, 55, 6));
  assert.equal(parseDate('21 Nov 97 09:55 EST'), Date.UTC(1997, 10, 21, 14, 55, 0));
  assert.equal(parseDate('Thu, 1 Jan 15 00:00:00 GMT (comment)'), Date.UTC(2015, 0, 1));
  assert.equal(parseDate('not a date'), null);
});

test('white space and comments around "/" and "=" are allowed (RFC 2045 5.1, RFC 822 lexical rules)', () => {
  const ct = parseContentType('  TEXT / HTML ;CHARSET = "UTF-8"');
  assert.equal(ct.mimeType, 'text/html');
  assert.equal(ct.defaulted, false);
  assert.equal(ct.params['charset'], 'UTF-8');
  assert.equal(parseContentType('text (a comment) /\r\n\thtml; charset=utf-8').mimeType, 'text/html');
  assert.equal(parseContentType('multipart/mixed\tboundary="b"').params['boundary'], 'b');
  // still invalid: a second slash, a non-token character after the subtype, nothing after "/"
  for (const bad of ['text/html/x', 'text/plain>', 'text/', 'text / ; charset=x']) assert.equal(parseContentType(bad).defaulted, true, bad);
  const m = parseMessage('Content-Type:   TEXT / HTML ;CHARSET = "UTF-8"\r\n\r\n<p>hi</p>');
  assert.equal(m.html, '<p>hi</p>');
  assert.equal(m.text, undefined);
});

test('RFC 2231 values are not RFC 2047 decoded: "=?" in them is literal text', () => {
  const literal = '=?utf-8?B?w6k=?=.txt';
  const header = "attachment; filename*=utf-8''%3D%3Futf-8%3FB%3Fw6k%3D%3F%3D.txt";
  assert.equal(parseContentDisposition(header).params['filename'], literal);
  assert.equal(parseContentDisposition("attachment; filename*0*=utf-8''%3D%3Futf-8%3FB%3F; filename*1=w6k=?=.txt").params['filename'], literal);
  const m = parseMessage(`Content-Type: application/octet-stream; name*=utf-8''%3D%3Futf-8%3FQ%3Fx%3F%3D\r\nContent-Disposition: ${header}\r\n\r\nx`);
  assert.equal(m.root.filename, literal);
  assert.equal(parseMessage("Content-Type: text/plain; name*=''%3D%3Futf-8%3FQ%3Fx%3F%3D\r\n\r\nx").root.filename, '=?utf-8?Q?x?=');
});
