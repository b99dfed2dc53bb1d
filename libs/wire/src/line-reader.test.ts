// The command line reader: CRLF and LF ends, the length cap (an over-long line is dropped as it
// streams and reported once), and handing bytes to another reader and back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineReader } from './line-reader.js';

test('lines end at LF, a CR before it is dropped, and a partial line waits for more', () => {
  const reader = new LineReader(512);
  reader.push(Buffer.from('EHLO a\r\nNOOP\nRSE'));
  assert.deepEqual(reader.next(), { line: 'EHLO a' });
  assert.deepEqual(reader.next(), { line: 'NOOP' });
  assert.equal(reader.next(), undefined);
  reader.push(Buffer.from('T\r\n'));
  assert.deepEqual(reader.next(), { line: 'RSET' });
});

test('a line over the cap is reported once, at its end, without being held', () => {
  const reader = new LineReader(16);
  reader.push(Buffer.from('x'.repeat(10)));
  assert.equal(reader.next(), undefined);
  reader.push(Buffer.from('y'.repeat(100)));
  assert.equal(reader.next(), undefined);
  assert.ok(reader.buffered <= 16, 'the long line is not kept');
  reader.push(Buffer.from('zz\r\nNOOP\r\n'));
  assert.deepEqual(reader.next(), { tooLong: true });
  assert.deepEqual(reader.next(), { line: 'NOOP' });
  reader.push(Buffer.from(`${'a'.repeat(15)}\r\n`));
  assert.deepEqual(reader.next(), { tooLong: true }, 'the cap counts the line ending');
});

test('bytes taken out for DATA and the rest given back keep their order; clear forgets everything', () => {
  const reader = new LineReader(512);
  reader.push(Buffer.from('body\r\n.\r\nQUIT\r\n'));
  const all = reader.takeAll();
  assert.equal(reader.buffered, 0);
  reader.push(Buffer.from('NOOP\r\n'));
  reader.giveBack(all.subarray(9));
  assert.deepEqual(reader.next(), { line: 'QUIT' });
  assert.deepEqual(reader.next(), { line: 'NOOP' });
  reader.push(Buffer.from('RSET\r\n'));
  reader.clear();
  assert.equal(reader.next(), undefined);
});

test('midLine says a command has begun; every drop of an over-long line is counted', () => {
  const reader = new LineReader(8);
  assert.equal(reader.midLine, false);
  reader.push(Buffer.from('NO'));
  assert.equal(reader.next(), undefined);
  assert.equal(reader.midLine, true);
  reader.push(Buffer.from('OP\r\n'));
  assert.deepEqual(reader.next(), { line: 'NOOP' });
  assert.equal(reader.midLine, false);
  reader.push(Buffer.from('x'.repeat(20)));
  reader.next();
  reader.push(Buffer.from('x'.repeat(20)));
  reader.next();
  assert.equal(reader.overLongDrops, 2);
  assert.equal(reader.midLine, true, 'still inside the over-long line');
});
