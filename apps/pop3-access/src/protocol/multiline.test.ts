// POP3 multi-line responses (RFC 1939 §3): byte-stuffing and the terminator, and the TOP cut (§7).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dotStuff, topOfMessage } from './multiline.js';

async function collect(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('latin1');
}

async function* chunked(...parts: string[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield Buffer.from(part, 'latin1');
}

/** The text cut in two at every position (empty pieces included). */
function everySplit(text: string): [string, string][] {
  return Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)] as [string, string]);
}

// --- dotStuff ---------------------------------------------------------------------------------------------

test('a line that begins with a dot gets a second dot, at every chunk split', async () => {
  const content = '.first\r\nmiddle . dot\r\n..\r\n.\r\nlast\r\n';
  const expected = '..first\r\nmiddle . dot\r\n...\r\n..\r\nlast\r\n.\r\n';
  for (const [a, b] of everySplit(content)) assert.equal(await collect(dotStuff(chunked(a, b))), expected, JSON.stringify([a, b]));
});

test('the content arriving one byte at a time is stuffed the same way', async () => {
  const content = '.a\r\n.b\r\n';
  assert.equal(await collect(dotStuff(chunked(...content))), '..a\r\n..b\r\n.\r\n');
});

test('a CRLF is added before the terminator when the content lacks one', async () => {
  assert.equal(await collect(dotStuff(chunked('no newline'))), 'no newline\r\n.\r\n');
  assert.equal(await collect(dotStuff(chunked('line\r\n', '.'))), 'line\r\n..\r\n.\r\n');
});

test('empty content gives just the terminator', async () => {
  assert.equal(await collect(dotStuff(chunked())), '.\r\n');
  assert.equal(await collect(dotStuff(chunked('', ''))), '.\r\n');
  assert.equal(await collect(dotStuff([])), '.\r\n');
});

test('stuffing accepts a plain iterable of subarrays', async () => {
  const whole = Buffer.from('xx.a\r\n.b\r\n');
  assert.equal(await collect(dotStuff([whole.subarray(2, 6), whole.subarray(6)])), '..a\r\n..b\r\n.\r\n');
});

// --- topOfMessage -----------------------------------------------------------------------------------------

const HEADERS = 'From: a@example.com\r\nSubject: top\r\n';
const BODY = 'line 1\r\nline 2\r\nline 3\r\n';
const MESSAGE = `${HEADERS}\r\n${BODY}`;

test('TOP with 0 lines gives the headers and the blank line', async () => {
  assert.equal(await collect(topOfMessage(chunked(MESSAGE), 0)), `${HEADERS}\r\n`);
});

test('TOP with n lines gives the headers, the blank line and n body lines', async () => {
  assert.equal(await collect(topOfMessage(chunked(MESSAGE), 1)), `${HEADERS}\r\nline 1\r\n`);
  assert.equal(await collect(topOfMessage(chunked(MESSAGE), 2)), `${HEADERS}\r\nline 1\r\nline 2\r\n`);
  assert.equal(await collect(topOfMessage(chunked(MESSAGE), 3)), MESSAGE);
});

test('TOP with more lines than the body gives the whole message', async () => {
  assert.equal(await collect(topOfMessage(chunked(MESSAGE), 100)), MESSAGE);
});

test('TOP of a message with headers only gives the whole message', async () => {
  assert.equal(await collect(topOfMessage(chunked(HEADERS), 0)), HEADERS);
  assert.equal(await collect(topOfMessage(chunked(HEADERS), 5)), HEADERS);
});

test('TOP of a message with an empty header block starts with the blank line', async () => {
  assert.equal(await collect(topOfMessage(chunked('\r\nbody 1\r\nbody 2\r\n'), 0)), '\r\n');
  assert.equal(await collect(topOfMessage(chunked('\r\nbody 1\r\nbody 2\r\n'), 1)), '\r\nbody 1\r\n');
});

test('TOP cuts at the same place whatever the chunk split', async () => {
  for (const lines of [0, 1, 2, 5]) {
    const expected = await collect(topOfMessage(chunked(MESSAGE), lines));
    for (const [a, b] of everySplit(MESSAGE)) {
      assert.equal(await collect(topOfMessage(chunked(a, b), lines)), expected, `${lines} lines, split ${JSON.stringify([a, b])}`);
    }
  }
});

test('TOP then stuffing gives a well-formed multi-line response', async () => {
  const message = `${HEADERS}\r\n.dot line\r\nmore\r\n`;
  assert.equal(await collect(dotStuff(topOfMessage(chunked(message), 1))), `${HEADERS}\r\n..dot line\r\n.\r\n`);
});
