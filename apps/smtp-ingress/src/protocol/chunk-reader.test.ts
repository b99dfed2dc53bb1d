// The BDAT reader against the DATA reader: the same message, sent by either framing and split anywhere,
// gives the same result (line endings, size limit, 8-bit flag), and a chunk takes exactly its octets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChunkReader } from './chunk-reader.js';
import { DataReader, type BareLineEndingPolicy, type DataResult } from './data-reader.js';

const content = fc
  .array(fc.oneof(fc.constantFrom('\r\n', '\r', '\n', '.', 'a', '\u00e9', '\r\r\n', '\n\r'), fc.string({ maxLength: 5 })), { maxLength: 40 })
  // Ending in CRLF, as every message sent by DATA does.
  .map((parts) => Buffer.from(`${parts.join('')}\r\n`, 'utf8'));

function viaData(message: Buffer, maxBytes: number, policy: BareLineEndingPolicy): DataResult {
  const reader = new DataReader(maxBytes, policy);
  // Dot-stuffing where the DATA reader sees a line start (after CRLF only: a bare LF starts no line).
  const stuffed = Buffer.from(message.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
  assert.ok(reader.push(Buffer.concat([stuffed, Buffer.from('.\r\n')])) > 0);
  return reader.result();
}

function viaChunks(message: Buffer, cuts: number[], maxBytes: number, policy: BareLineEndingPolicy, seen: Buffer[]): DataResult {
  const reader = new ChunkReader(maxBytes, policy, false, (piece) => seen.push(Buffer.from(piece)));
  let from = 0;
  for (const cut of [...cuts.map((c) => c % (message.length + 1)).sort((a, b) => a - b), message.length]) {
    const chunk = message.subarray(from, cut);
    reader.beginChunk(chunk.length);
    // Each chunk arrives with trailing bytes of the next command, which it must not take.
    assert.equal(reader.push(Buffer.concat([chunk, Buffer.from('BDAT 1\r\n')])), chunk.length);
    from = cut;
  }
  return reader.result();
}

test('BDAT chunks and DATA give the same message for any content, split anywhere', async () => {
  await fc.assert(
    fc.asyncProperty(content, fc.array(fc.nat(), { maxLength: 6 }), fc.constantFrom<BareLineEndingPolicy>('reject', 'normalize'), async (message, cuts, policy) => {
      const seen: Buffer[] = [];
      const chunked = viaChunks(message, cuts, 1_000_000, policy, seen);
      const data = viaData(message, 1_000_000, policy);
      assert.equal(chunked.bareLineEndings, data.bareLineEndings, 'bare line endings counted alike');
      assert.equal(chunked.eightBit, data.eightBit);
      if (policy === 'normalize') assert.deepEqual(chunked.message, data.message);
      else assert.deepEqual(chunked.message, message, 'kept as sent');
      assert.deepEqual(Buffer.concat(seen), chunked.message, 'the observer saw the stored message, in order');
    }),
    { numRuns: 500 },
  );
});

test('BDAT chunks over the size limit are counted, not kept, and the observer stops at the limit', () => {
  const seen: Buffer[] = [];
  const reader = new ChunkReader(10, 'reject', false, (piece) => seen.push(piece));
  reader.beginChunk(8);
  assert.equal(reader.push(Buffer.from('12345678')), 8);
  assert.equal(reader.oversize, false);
  reader.beginChunk(1000);
  assert.equal(reader.push(Buffer.alloc(1000, 0x61)), 1000);
  const result = reader.result();
  assert.deepEqual([result.oversize, result.size, result.message.length], [true, 1008, 0]);
  assert.deepEqual(Buffer.concat(seen), Buffer.from('12345678'));
});

test('BINARYMIME chunks keep every octet as sent and count no bare line endings', () => {
  const reader = new ChunkReader(100, 'normalize', true);
  const bytes = Buffer.from([0, 10, 13, 46, 13, 10, 255, 13]);
  reader.beginChunk(bytes.length);
  assert.equal(reader.push(bytes), bytes.length);
  const result = reader.result();
  assert.deepEqual(result.message, bytes);
  assert.equal(result.bareLineEndings, 0);
  assert.equal(result.eightBit, true);
});
