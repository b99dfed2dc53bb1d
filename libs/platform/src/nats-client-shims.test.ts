// The NATS client shims change the library's classes in place: these tests hold them to what they are for,
// so a client upgrade that no longer fits them fails here rather than silently costing CPU again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Parser, type ParserEvent } from '@nats-io/nats-core/internal';
import { sizeSplitMessagesOnce } from './nats-client-shims.js';

test('a 200 KB message arriving in 64 KB reads is gathered in one buffer sized for it, and arrives intact', () => {
  assert.equal(sizeSplitMessagesOnce(), true, 'the parser still looks the way the shim expects');
  const payload = Buffer.alloc(200 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  const wire = Buffer.concat([Buffer.from(`MSG mail.spool.X 1 ${payload.length}\r\n`), payload, Buffer.from('\r\n')]);
  const events: ParserEvent[] = [];
  const parser = new Parser({ push: (event: ParserEvent) => void events.push(event) });
  let largestBuffer = 0;
  for (let offset = 0; offset < wire.length; offset += 64 * 1024) {
    parser.parse(wire.subarray(offset, offset + 64 * 1024));
    largestBuffer = Math.max(largestBuffer, parser.msgBuf?.capacity ?? 0);
  }
  assert.equal(events.length, 1);
  assert.ok(Buffer.from(events[0]!.data!).equals(payload), 'the payload, byte for byte');
  // Unshimmed, the buffer doubles read by read, to 448 KB here.
  assert.ok(largestBuffer < 1.5 * payload.length, `gathered in ${largestBuffer} bytes`);
});
