// The header section held while a message streams: whatever the pieces, what is passed on is the message
// with the Authentication-Results claiming our authserv-id taken out, as if it had been filtered whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { withoutClaimsOf } from '../auth/results-header.js';
import { HeaderSection } from './header-section.js';

const field = fc.constantFrom(
  'Subject: hello\r\n',
  'Authentication-Results: mx.example.net; spf=pass\r\n',
  'Authentication-Results: other.example; dkim=pass\r\n',
  'Authentication-Results:\r\n mx.example.net;\r\n dmarc=pass\r\n',
  'Received: from a by b\r\n',
  'X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n',
);
const message = fc
  .tuple(fc.array(field, { maxLength: 8 }), fc.constantFrom('\r\n', ''), fc.constantFrom('', 'body\r\n', 'Authentication-Results: mx.example.net; in the body\r\n', '\r\n\r\n'))
  .map(([fields, blank, body]) => Buffer.from(fields.join('') + blank + body));

function streamed(bytes: Buffer, cuts: number[], maxBytes: number): { out: Buffer; section: Buffer } {
  const out: Buffer[] = [];
  const section = new HeaderSection('mx.example.net', maxBytes, (piece) => out.push(Buffer.from(piece)));
  let from = 0;
  for (const cut of [...cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
    if (cut > from) section.write(bytes.subarray(from, cut));
    from = Math.max(from, cut);
  }
  section.end();
  return { out: Buffer.concat(out), section: section.received };
}

test('streamed in any pieces, the message passed on is the message filtered whole', () => {
  fc.assert(
    fc.property(message, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
      const { out, section } = streamed(bytes, cuts, 1 << 20);
      assert.deepEqual(out, Buffer.concat(withoutClaimsOf(bytes, 'mx.example.net')));
      const end = bytes.indexOf('\r\n\r\n');
      const expected = bytes.subarray(0, 2).equals(Buffer.from('\r\n')) ? bytes.subarray(0, 2) : end < 0 ? bytes : bytes.subarray(0, end + 4);
      assert.deepEqual(section, expected, 'the section held is the header block, blank line included');
    }),
    { numRuns: 1000 },
  );
});

test('a header section that never ends is held only up to its limit, then passed on', () => {
  const out: Buffer[] = [];
  const section = new HeaderSection('mx.example.net', 100, (piece) => out.push(piece));
  section.write(Buffer.alloc(60, 0x61));
  assert.equal(out.length, 0, 'held');
  section.write(Buffer.alloc(60, 0x62));
  assert.equal(Buffer.concat(out).length, 120, 'over the limit: everything passed on');
  section.write(Buffer.from('more'));
  assert.equal(Buffer.concat(out).length, 124);
  assert.equal(section.received.length, 100);
});
