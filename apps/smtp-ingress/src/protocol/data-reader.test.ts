// DataReader against RFC 5321 §4.1.1.4 (end of data), §4.5.2 (transparency) and the SMTP smuggling
// rule: only <CRLF>.<CRLF> ends the data, whatever the chunking of the input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataReader, type BareLineEndingPolicy } from './data-reader.js';

const bytes = (text: string) => Buffer.from(text, 'latin1');

/** Feeds the chunks in order; returns the result and how much of the whole input was consumed. */
function read(chunks: Buffer[], maxBytes = 1_000_000, policy: BareLineEndingPolicy = 'reject') {
  const reader = new DataReader(maxBytes, policy);
  let offset = 0;
  for (const chunk of chunks) {
    const used = reader.push(chunk);
    if (used >= 0) return { reader, consumed: offset + used, result: reader.result() };
    offset += chunk.length;
  }
  return { reader, consumed: -1, result: reader.result() };
}

const MESSAGE_ON_THE_WIRE = 'Subject: dots\r\n\r\n..leading dot\r\n..\r\nmiddle . line\r\n...\r\nend\r\n.\r\n';
const MESSAGE_STORED = 'Subject: dots\r\n\r\n.leading dot\r\n.\r\nmiddle . line\r\n..\r\nend\r\n';
const PIPELINED = 'MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n';

test('the terminator is found whatever the split point between two chunks', () => {
  const input = bytes(MESSAGE_ON_THE_WIRE + PIPELINED);
  for (let split = 0; split <= input.length; split++) {
    const { consumed, result } = read([input.subarray(0, split), input.subarray(split)]);
    assert.equal(consumed, MESSAGE_ON_THE_WIRE.length, `split at ${split}`);
    assert.equal(result.message.toString('latin1'), MESSAGE_STORED, `split at ${split}`);
    assert.equal(result.bareLineEndings, 0, `split at ${split}`);
  }
});

test('the terminator is found when the input arrives one byte at a time', () => {
  const input = bytes(MESSAGE_ON_THE_WIRE);
  const { consumed, result } = read([...input].map((b) => Buffer.from([b])));
  assert.equal(consumed, input.length);
  assert.equal(result.message.toString('latin1'), MESSAGE_STORED);
});

test('push returns the bytes consumed so pipelined commands after the terminator stay in the command stream', () => {
  const input = bytes(`Hi\r\n.\r\n${PIPELINED}`);
  const { consumed } = read([input]);
  assert.equal(input.subarray(consumed).toString('latin1'), PIPELINED);
});

test('push returns -1 while the terminator has not been seen', () => {
  const reader = new DataReader(1000, 'reject');
  assert.equal(reader.push(bytes('Hi\r\n')), -1);
  assert.equal(reader.push(bytes('.')), -1);
  assert.equal(reader.push(bytes('\r')), -1);
  assert.equal(reader.push(bytes('\nQUIT\r\n')), 1);
  assert.equal(reader.result().message.toString(), 'Hi\r\n');
});

test('a terminator right after DATA gives an empty message', () => {
  const { consumed, result } = read([bytes('.\r\nQUIT\r\n')]);
  assert.equal(consumed, 3);
  assert.equal(result.message.length, 0);
  assert.equal(result.size, 0);
});

test('a leading dot is removed from a line ("..x" gives ".x", ".." gives ".")', () => {
  const { result } = read([bytes('..x\r\n..\r\n.y\r\n.\r\n')]);
  assert.equal(result.message.toString('latin1'), '.x\r\n.\r\ny\r\n');
});

test('a dot that does not start a line is content', () => {
  const { result } = read([bytes('a.\r\nb..c\r\n.\r\n')]);
  assert.equal(result.message.toString('latin1'), 'a.\r\nb..c\r\n');
});

// SMTP smuggling: each of these looks like an end of data to some software; here it never is.
for (const [name, variant, bareCount] of [
  ['<LF>.<LF>', '\n.\n', 2],
  ['<LF>.<CR><LF>', '\n.\r\n', 1],
  ['<CR>.<CR>', '\r.\r', 2],
  ['<CR><LF>.<LF>', '\r\n.\n', 1],
  ['<CR>.<CR><LF>', '\r.\r\n', 1],
  ['<CR><LF>.<CR><CR><LF>', '\r\n.\r\r\n', 1],
] as const) {
  test(`${name} does not end the data and counts as a bare line ending`, () => {
    const wire = `Subject: x\r\n\r\nbefore${variant}MAIL FROM:<evil@smuggler.example>\r\n.\r\n`;
    const input = bytes(wire);
    for (let split = 0; split <= input.length; split++) {
      const { consumed, result } = read([input.subarray(0, split), input.subarray(split)]);
      assert.equal(consumed, input.length, `${name}, split at ${split}`);
      assert.equal(result.bareLineEndings, bareCount, `${name}, split at ${split}`);
      assert.match(result.message.toString('latin1'), /MAIL FROM:<evil@smuggler\.example>\r\n$/);
    }
  });
}

test('with the normalize policy, bare LF and bare CR become CRLF', () => {
  const { result } = read([bytes('a\nb\rc\r\n.\r\n')], 1000, 'normalize');
  assert.equal(result.message.toString('latin1'), 'a\r\nb\r\nc\r\n');
  assert.equal(result.bareLineEndings, 2);
});

test('with the reject policy, bare line endings are kept as they came and counted', () => {
  const { result } = read([bytes('a\nb\rc\r\n.\r\n')], 1000, 'reject');
  assert.equal(result.message.toString('latin1'), 'a\nb\rc\r\n');
  assert.equal(result.bareLineEndings, 2);
});

test('a CR at the end of a chunk followed by LF in the next is a proper line ending', () => {
  const { result } = read([bytes('a\r'), bytes('\nb\r'), bytes('\n.\r'), bytes('\n')]);
  assert.equal(result.message.toString('latin1'), 'a\r\nb\r\n');
  assert.equal(result.bareLineEndings, 0);
});

test('a message at the size limit is kept whole', () => {
  const body = 'x'.repeat(8) + '\r\n'; // 10 bytes
  const { result } = read([bytes(`${body}.\r\n`)], 10);
  assert.equal(result.oversize, false);
  assert.equal(result.size, 10);
  assert.equal(result.message.toString('latin1'), body);
});

test('a message over the size limit is flagged, counted to the end and not kept in memory', () => {
  const reader = new DataReader(10, 'reject');
  const chunk = bytes(`${'y'.repeat(1022)}\r\n`);
  for (let i = 0; i < 100; i++) assert.equal(reader.push(chunk), -1);
  assert.equal(reader.push(bytes('.\r\nQUIT\r\n')), 3);
  const result = reader.result();
  assert.equal(result.oversize, true);
  assert.equal(result.size, 102_400);
  assert.equal(result.message.length, 0);
  // What the reader holds is dropped, not just hidden.
  assert.equal((reader as unknown as { pieces: Buffer[] }).pieces.length, 0);
});

test('the eightBit flag is set by any octet with the high bit set', () => {
  assert.equal(read([Buffer.from('caf\u00e9\r\n.\r\n', 'utf8')]).result.eightBit, true);
  assert.equal(read([Buffer.from('.\u00e9\r\n.\r\n', 'utf8')]).result.eightBit, true);
  assert.equal(read([bytes('plain ascii\r\n.\r\n')]).result.eightBit, false);
});

test('the observer is handed what each push added, as views of the held bytes, and nothing past the limit', () => {
  const seen: Buffer[] = [];
  const reader = new DataReader(40, 'reject', (piece) => seen.push(piece));
  reader.push(bytes('Subject: x\r\n\r\n..dot'));
  reader.push(bytes('ted\r\n'));
  assert.equal(Buffer.concat(seen).toString('latin1'), 'Subject: x\r\n\r\n.dotted\r\n');
  const observed = seen.length;
  reader.push(bytes('y'.repeat(50)));
  assert.equal(seen.length, observed, 'an oversize message is not observed further');
});
