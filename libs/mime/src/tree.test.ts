import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MimeStreamParser, parseHeaderBlock, parseMessage, walkParts, type PartInfo } from './index.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../test-data/${name}`, import.meta.url));
const shape = (raw: string | Uint8Array): string[] => walkParts(parseMessage(raw).root).map((p) => `${p.path} ${p.kind} ${p.contentType.mimeType}`);
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');

test('multipart parts are numbered like IMAP sections (RFC 3501 6.4.5)', () => {
  assert.deepEqual(shape(fixture('nested.eml')), [
    'TEXT multipart multipart/mixed',
    '1 multipart multipart/alternative',
    '1.1 leaf text/plain',
    '1.2 leaf text/html',
    '2 message message/rfc822',
    '2.TEXT multipart multipart/mixed',
    '2.1 leaf text/plain',
    '2.2 leaf application/pdf',
    '3 leaf image/png',
  ]);
});

test('the line break before a delimiter belongs to the delimiter (RFC 2046 5.1.1)', () => {
  const m = parseMessage('Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\n\r\nline1\r\n\r\n--b--\r\nepi\r\n');
  assert.equal(text(m.root.children[0]!.content), 'line1\r\n');
  assert.equal(text(m.root.preamble!), 'pre\r\n');
  assert.equal(text(m.root.epilogue!), 'epi\r\n');
});

test('multipart/digest parts default to message/rfc822 (RFC 2046 5.1.5)', () => {
  const m = parseMessage('Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: inner\n\nhi\n--d--\n');
  assert.equal(m.root.children[0]!.contentType.mimeType, 'message/rfc822');
  assert.equal(m.root.children[0]!.children[0]!.headers[0]!.value, 'inner');
});

test('a line that only starts like a delimiter is content', () => {
  const m = parseMessage('Content-Type: multipart/mixed; boundary=b\n\n--b\n\n--bx\n--b junk\n--b--\n');
  assert.equal(text(m.root.children[0]!.content), '--bx\n--b junk');
});

test('a missing close delimiter keeps the parts found and records a defect', () => {
  const m = parseMessage('Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n');
  assert.equal(m.root.children.length, 2);
  assert.equal(text(m.root.children[1]!.content), 'two');
  assert.ok(m.defects.some((d) => d.name === 'CloseBoundaryNotFound'));
});

test('a multipart without any delimiter is one leaf with the whole body', () => {
  const m = parseMessage('Content-Type: multipart/mixed; boundary=b\n\njust text\n');
  assert.equal(m.root.kind, 'leaf');
  assert.equal(text(m.root.content), 'just text\n');
  assert.ok(m.defects.some((d) => d.name === 'StartBoundaryNotFound'));
});

test('an outer delimiter ends an inner part whose multipart is not closed', () => {
  const m = parseMessage('Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; boundary=i\n\n--i\n\ninner\n--o\n\nnext\n--o--\n');
  assert.deepEqual(walkParts(m.root).map((p) => p.path), ['TEXT', '1', '1.1', '2']);
});

test('base64 bodies tolerate white space, junk and missing padding (RFC 2045 6.8)', () => {
  const m = parseMessage('Content-Transfer-Encoding: base64\n\nSGVs bG8g\nV29y*bGQ\n');
  assert.equal(text(m.root.content), 'Hello World');
});

test('quoted-printable soft breaks are removed and invalid escapes kept (RFC 2045 6.7)', () => {
  const m = parseMessage('Content-Transfer-Encoding: quoted-printable\n\nab=\ncd=3D=ZZ=4\n');
  assert.equal(text(m.root.content), 'abcd==ZZ=4\n');
});

test('text parts are decoded from their charset', () => {
  const m = parseMessage(Buffer.concat([Buffer.from('Content-Type: text/plain; charset=windows-1251\n\n'), Buffer.from([0xcf, 0xf0, 0xe8])]));
  assert.equal(m.text, 'При');
  const jis = parseMessage('Content-Type: text/plain; charset=iso-2022-jp\n\n\x1b$B$3$s$K$A$O\x1b(B\n');
  assert.equal(jis.text, 'こんにちは\n');
});

test('message/rfc822 that arrived base64 encoded is decoded and parsed', () => {
  const inner = Buffer.from('Subject: inside\n\nbody\n').toString('base64');
  const m = parseMessage(`Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n${inner}\n--b--\n`);
  const part = m.root.children[0]!;
  assert.equal(part.kind, 'message');
  assert.equal(text(part.children[0]!.content), 'body\n');
});

test('envelope headers are decoded: subject, addresses, date, message id', () => {
  const m = parseMessage(fixture('nested.eml'));
  assert.equal(m.subject, 'Grüße');
  assert.deepEqual(m.from, [{ name: 'Alice Example', address: 'alice@example.com' }]);
  assert.equal(m.date, Date.UTC(2024, 0, 2, 3, 4, 5));
  assert.equal(m.messageId, '<nested-1@example.com>');
  assert.equal(m.text, 'plain body\n');
  assert.equal(m.attachments.length, 2);
});

test('caps on parts, depth and header bytes record defects instead of throwing', () => {
  let many = 'Content-Type: multipart/mixed; boundary=b\n\n';
  for (let i = 0; i < 50; i++) many += '--b\n\nx\n';
  const capped = parseMessage(many, { maxParts: 10 });
  assert.ok(capped.defects.some((d) => d.name === 'PartLimitExceeded'));
  assert.equal(walkParts(capped.root).length, 10);
  let deep = '';
  for (let i = 0; i < 30; i++) deep += `Content-Type: multipart/mixed; boundary=b${i}\n\n--b${i}\n`;
  const shallow = parseMessage(deep + '\nend\n', { maxDepth: 5 });
  assert.ok(shallow.defects.some((d) => d.name === 'DepthLimitExceeded'));
  const big = parseMessage('X-Big: ' + 'a'.repeat(5000) + '\nSubject: s\n\nbody', { maxHeaderBytes: 1000 });
  assert.ok(big.defects.some((d) => d.name === 'HeaderTooLarge'));
});

test('deep nesting and many parts stay linear and do not throw', () => {
  let deep = '';
  for (let i = 0; i < 1000; i++) deep += `Content-Type: multipart/mixed; boundary=b${i}\n\n--b${i}\n`;
  const started = Date.now();
  const m = parseMessage(deep + '\nend\n', { maxDepth: 2000 });
  assert.equal(walkParts(m.root).length, 1001);
  let many = 'Content-Type: multipart/mixed; boundary=b\n\n';
  for (let i = 0; i < 10_000; i++) many += '--b\n\nx\n';
  assert.equal(parseMessage(many).root.children.length, 10_000);
  const longLine = parseMessage('Subject: ' + 'x'.repeat(10 << 20) + '\n\nbody');
  assert.ok(longLine.defects.some((d) => d.name === 'HeaderTooLarge'));
  assert.ok(Date.now() - started < 10_000);
});

test('streaming in one-byte chunks gives the same tree as one write', () => {
  const raw = fixture('nested.eml');
  const collect = (chunkSize: number): string[] => {
    const events: string[] = [];
    const parser = new MimeStreamParser({
      onPartStart: (p: PartInfo) => events.push(`start ${p.path}`),
      onPartData: (p: PartInfo, c: Uint8Array) => events.push(`data ${p.path} ${text(c)}`),
      onPartEnd: (p: PartInfo) => events.push(`end ${p.path}`),
    });
    for (let i = 0; i < raw.length; i += chunkSize) parser.write(raw.subarray(i, i + chunkSize));
    parser.end();
    // data chunks may be split differently: join consecutive data of a part
    const joined: string[] = [];
    for (const e of events) {
      const last = joined[joined.length - 1];
      const prefix = e.split(' ', 2).join(' ');
      if (e.startsWith('data ') && last?.startsWith(prefix + ' ')) joined[joined.length - 1] = last + e.slice(prefix.length + 1);
      else joined.push(e);
    }
    return joined;
  };
  const whole = collect(raw.length);
  for (const size of [1, 2, 3, 7, 64]) assert.deepEqual(collect(size), whole, `chunk size ${size}`);
});

test('a large attachment streams out without the parser holding it', () => {
  const line = Buffer.from('QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n');
  const head = Buffer.from('Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n');
  let decoded = 0;
  const parser = new MimeStreamParser({ onPartData: (_p, chunk) => void (decoded += chunk.length) });
  parser.write(head);
  const block = Buffer.concat(Array.from({ length: 1000 }, () => line));
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 500; i++) parser.write(block); // ~38 MB
  gc();
  const growth = process.memoryUsage().arrayBuffers - before;
  parser.write(Buffer.from('\r\n--b--\r\n'));
  parser.end();
  assert.equal(decoded, 500 * 1000 * 57);
  assert.ok(growth < 16 << 20, `memory grew by ${growth}`);
});

test('a second inline text/plain part is message text, not an attachment (RFC 2046 5.1.3, RFC 2183 2.1)', () => {
  const m = parseMessage(
    'Content-Type: multipart/mixed; boundary=b\r\n\r\n' +
      '--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n' +
      '--b\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename=a.png\r\n\r\npng\r\n' +
      '--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsecond\r\n' +
      '--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nfile\r\n' +
      '--b\r\nContent-Type: text/plain; name=notes.txt\r\n\r\nnamed\r\n--b--\r\n',
  );
  assert.equal(m.text, 'first\nsecond');
  assert.deepEqual(m.bodyParts.map((p) => p.path), ['1', '3']);
  assert.deepEqual(m.attachments.map((p) => p.path), ['2', '4', '5']);
});

test('of a multipart/alternative one alternative is message text; a footer part after it is too', () => {
  const m = parseMessage(
    'Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n' +
      '--a\r\nContent-Type: text/plain\r\n\r\nhello\r\n--a\r\nContent-Type: text/html\r\n\r\n<p>hello</p>\r\n--a--\r\n' +
      '--o\r\nContent-Type: text/plain\r\n\r\n-- \nfooter\r\n--o--\r\n',
  );
  assert.equal(m.text, 'hello\n-- \nfooter');
  assert.equal(m.html, '<p>hello</p>');
  assert.deepEqual(m.attachments, []);
  assert.equal(m.bodyParts.length, 3);
});

test('lone CR line endings (old Mac mail) are line breaks', () => {
  const raw = 'From: a@example.com\rSubject: old mac\rContent-Type: multipart/mixed; boundary=b\r\r--b\rContent-Type: text/plain\r\rhello\rworld\r--b\rContent-Type: text/html\r\r<p>x</p>\r--b--\r';
  const m = parseMessage(raw);
  assert.equal(m.subject, 'old mac');
  assert.deepEqual(m.from, [{ name: '', address: 'a@example.com' }]);
  assert.deepEqual(shape(raw), ['TEXT multipart multipart/mixed', '1 leaf text/plain', '2 leaf text/html']);
  assert.equal(m.text, 'hello\nworld');
  assert.equal(m.html, '<p>x</p>');
  assert.deepEqual(m.defects, []);
  // the same in one-byte writes (a CR at the end of a chunk waits for the next byte)
  const paths: string[] = [];
  const parser = new MimeStreamParser({ onPartStart: (p) => paths.push(`${p.path} ${p.contentType.mimeType}`) });
  for (let i = 0; i < raw.length; i++) parser.write(Buffer.from(raw[i]!, 'latin1'));
  parser.end();
  assert.deepEqual(paths, ['TEXT multipart/mixed', '1 text/plain', '2 text/html']);
  const block = parseHeaderBlock('Subject: s\rTo: t\r\rbody');
  assert.deepEqual(block.headers.map((h) => h.value), ['s', 't']);
  assert.equal(block.bodyOffset, 18);
  // CRLF and LF input is untouched: a CR inside a line stays a CR
  assert.equal(text(parseMessage('Subject: x\r\n\r\na\rb\r\n').root.content), 'a\rb\r\n');
});

test('a header section over the cap keeps its structural fields and says what it dropped', () => {
  let head = '';
  for (let i = 0; i < 50_000; i++) head += `X-Field-${String(i).padStart(5, '0')}: some value\r\n`; // 1.35 MB
  const m = parseMessage(head + 'Content-Type: text/html;\r\n charset=utf-8\r\nContent-Transfer-Encoding: base64\r\nSubject: lost\r\n\r\nPHA+aGk8L3A+\r\n');
  assert.equal(m.root.contentType.mimeType, 'text/html');
  assert.equal(m.root.contentType.params['charset'], 'utf-8');
  assert.equal(m.html, '<p>hi</p>');
  assert.equal(m.subject, undefined);
  const defect = m.defects.find((d) => d.name === 'HeaderTooLarge');
  assert.ok(defect, 'HeaderTooLarge reported');
  const kept = m.root.headers.length - 2;
  assert.match(defect.detail!, new RegExp(`: ${50_001 - kept} field\\(s\\) \\(\\d+ bytes\\) dropped`));
  // a structural field that crosses the cap is kept whole, continuation lines included
  const small = parseMessage('X-Pad: ' + 'p'.repeat(80) + '\r\nContent-Type: multipart/mixed;\r\n boundary=b\r\nX-Late: x\r\n\r\n--b\r\n\r\none\r\n--b--\r\n', { maxHeaderBytes: 100 });
  assert.equal(small.root.kind, 'multipart');
  assert.deepEqual(small.root.headers.map((h) => h.name), ['X-Pad', 'Content-Type']);
  assert.equal(small.defects.find((d) => d.name === 'HeaderTooLarge')?.detail, 'header section over 100 bytes: 1 field(s) (11 bytes) dropped; Content-Type, Content-Transfer-Encoding, Content-Disposition and MIME-Version kept');
});

test('nesting deeper than maxDepth (100) is one leaf and a reported defect', () => {
  let deep = '';
  for (let i = 0; i < 150; i++) deep += `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n`;
  const m = parseMessage(deep + '\r\nend\r\n');
  const parts = walkParts(m.root);
  assert.equal(parts.length, 101);
  const leaf = parts[100]!;
  assert.equal(leaf.depth, 100);
  assert.equal(leaf.kind, 'leaf');
  assert.ok(text(leaf.content).startsWith('--b100\r\nContent-Type: multipart/mixed; boundary=b101'));
  assert.deepEqual(
    m.defects.filter((d) => d.name === 'DepthLimitExceeded'),
    [{ path: leaf.path, name: 'DepthLimitExceeded', detail: 'nested deeper than maxDepth (100): kept as one leaf with its raw body' }],
  );
  let chain = '';
  for (let i = 0; i < 150; i++) chain += 'Content-Type: message/rfc822\r\n\r\n';
  const messages = parseMessage(chain + 'Subject: innermost\r\n\r\nx\r\n');
  assert.equal(walkParts(messages.root).length, 101);
  assert.equal(messages.defects.filter((d) => d.name === 'DepthLimitExceeded').length, 1);
});

test('a large base64 body decodes in slices to the same bytes (line lengths not a multiple of 4 too)', () => {
  const data = Buffer.alloc(1_500_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
  const b64 = data.toString('base64');
  for (const width of [76, 74, 1000]) {
    const lines: string[] = [];
    for (let i = 0; i < b64.length; i += width) lines.push(b64.slice(i, i + width));
    const m = parseMessage(`Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${lines.join('\r\n')}\r\n`);
    assert.ok(Buffer.from(m.root.content).equals(data), `width ${width}`);
    assert.deepEqual(m.defects, []);
  }
});
