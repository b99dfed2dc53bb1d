// Deliver commits a message only when all of its data arrived: a sender that dies mid-stream (the call
// ends early, or is cancelled) leaves nothing, and the retry then stores the whole message once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { DeliverChunk, DeliverManyReply, DeliverReply } from '@mail/contracts';
import type { createMailboxService } from './service.js';
import { withService } from './service.test-support.js';

/** Calls Deliver with the given stream, as grpc-js would hand it to the handler. */
function deliver(service: ReturnType<typeof createMailboxService>, chunks: DeliverChunk[], cancelled = false) {
  const call = Object.assign(Readable.from(chunks), { cancelled });
  return new Promise<{ err: { code?: number } | null; reply: DeliverReply | null }>((resolve) =>
    (service.deliver as unknown as (c: unknown, cb: (err: { code?: number } | null, reply: DeliverReply | null) => void) => void)(call, (err, reply) =>
      resolve({ err, reply }),
    ),
  );
}

const header = (size: number): DeliverChunk => ({
  part: { $case: 'header', value: { queueId: 'Q1', recipient: 'alice@example.test', returnPath: 'a@remote.test', size } },
});
const data = (text: string): DeliverChunk => ({ part: { $case: 'data', value: Buffer.from(text) } });

test('a truncated or cancelled Deliver stores nothing; the complete retry stores the message once', async () => {
  await withService(async (store, service) => {
    const message = 'Subject: whole\r\n\r\nbody\r\n';
    const truncated = await deliver(service, [header(message.length), data(message.slice(0, 9))]);
    assert.ok(truncated.err, 'an incomplete stream is refused');
    assert.deepEqual(await store.listMessages('alice@example.test'), []);
    const cancelled = await deliver(service, [header(0), data(message)], true);
    assert.ok(cancelled.err, 'a cancelled call is refused');
    assert.deepEqual(await store.listMessages('alice@example.test'), []);
    const whole = await deliver(service, [header(message.length), data(message.slice(0, 9)), data(message.slice(9))]);
    assert.equal(whole.err, null);
    assert.equal(whole.reply!.duplicate, false);
    const stored = await store.listMessages('alice@example.test');
    assert.equal(stored.length, 1);
    const bytes = [];
    for await (const chunk of store.readMessage('alice@example.test', stored[0]!.uidl)) bytes.push(Buffer.from(chunk));
    assert.equal(Buffer.concat(bytes).toString(), `Return-Path: <a@remote.test>\r\n${message}`);
  });
});

const item = (queueId: string, recipient: string, text: string, size = text.length) => ({
  header: { queueId, recipient, returnPath: 'a@remote.test', size },
  data: Buffer.from(text),
});

/** Calls DeliverMany as grpc-js would hand the request to the handler. */
function deliverMany(service: ReturnType<typeof createMailboxService>, items: ReturnType<typeof item>[]): Promise<DeliverManyReply> {
  return new Promise((resolve, reject) =>
    (service.deliverMany as unknown as (c: unknown, cb: (err: unknown, reply: DeliverManyReply | null) => void) => void)({ request: { items } }, (err, reply) =>
      err ? reject(err) : resolve(reply!),
    ),
  );
}

test('DeliverMany answers each item on its own, in order: stored, refused, incomplete, repeated', async () => {
  await withService(async (store, service) => {
    const reply = await deliverMany(service, [
      item('Q1', 'alice@example.test', 'Subject: one\r\n\r\n1\r\n'),
      item('Q2', 'nobody@example.test', 'Subject: two\r\n\r\n2\r\n'),
      item('Q3', 'alice@example.test', 'Subject: three\r\n\r\n3\r\n', 999),
      item('Q1', 'alice@example.test', 'Subject: one\r\n\r\n1\r\n'),
    ]);
    assert.deepEqual(
      reply.replies.map((r) => r.code),
      [0, 5 /* NOT_FOUND */, 10 /* ABORTED */, 0],
    );
    assert.equal(reply.replies[0]!.duplicate !== reply.replies[3]!.duplicate, true, 'the same delivery twice in one batch is stored once');
    assert.equal(reply.replies[0]!.uidl, reply.replies[3]!.uidl);
    const stored = await store.listMessages('alice@example.test');
    assert.equal(stored.length, 1, 'only the complete message for a real mailbox is stored');
  });
});
