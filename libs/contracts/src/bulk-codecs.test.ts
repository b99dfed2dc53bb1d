// The hand-written encoders write what the generated code writes: the generated decoder reads it back,
// bodies of every length class included.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { encodeDeliverManyRequest, encodeFetchMessagesReply } from './bulk-codecs.js';
import { DeliverManyRequest, FetchMessagesReply } from './gen/mail/v1/mailbox.js';

const item = (n: number, bytes: number) => ({
  header: { queueId: `Q${n}`, recipient: `r${n}@local.test`, returnPath: n % 2 ? '' : 'sender@remote.test', size: bytes },
  data: Buffer.alloc(bytes, 0x41 + (n % 26)),
});

test('the hand-written encoder gives the bytes the generated encoder gives', () => {
  for (const sizes of [[], [0], [1], [127, 128], [16_383, 16_384], [200 * 1024, 3, 2_097_151, 2_097_152]]) {
    const request = { items: sizes.map((bytes, n) => item(n, bytes)) };
    const ours = encodeDeliverManyRequest(request);
    assert.deepEqual(Buffer.from(ours), Buffer.from(DeliverManyRequest.encode(request).finish()), `items of ${sizes.join(', ')} bytes`);
    const decoded = DeliverManyRequest.decode(ours);
    assert.deepEqual(decoded.items.map((i) => i.data.length), sizes);
  }
});

test('an item without a header is encoded as the generated code would (the server refuses it)', () => {
  const request = { items: [{ header: undefined, data: Buffer.from('x') }] };
  assert.deepEqual(Buffer.from(encodeDeliverManyRequest(request)), Buffer.from(DeliverManyRequest.encode(request).finish()));
});

test('the FetchMessages reply encoder gives the bytes the generated encoder gives, missing messages included', () => {
  for (const sizes of [[], [0], [1], [127, 128], [20 * 1024, 16_384, 2_097_152]]) {
    const reply = { messages: sizes.map((bytes, n) => ({ uidl: n % 3 === 2 ? '' : `uidl-${n}-é`, data: Buffer.alloc(bytes, 0x30 + n), missing: n % 2 === 1 })) };
    const ours = encodeFetchMessagesReply(reply);
    assert.deepEqual(Buffer.from(ours), Buffer.from(FetchMessagesReply.encode(reply).finish()), `messages of ${sizes.join(', ')} bytes`);
    assert.deepEqual(FetchMessagesReply.decode(ours).messages.map((m) => [m.uidl, m.data.length, m.missing]), reply.messages.map((m) => [m.uidl, m.data.length, m.missing]));
  }
});
