// FetchMessages: several whole messages of a leased maildrop in one call, in the order asked, missing
// ones said to be missing, the answer cut before it would pass about 3 MiB, and only for the lease holder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FetchMessagesReply, OpenMaildropReply } from '@mail/contracts';
import type { createMailboxService } from './service.js';
import { withService } from './service.test-support.js';

type Service = ReturnType<typeof createMailboxService>;

/** Calls a unary handler as grpc-js would. */
function call<Req, Res>(handler: unknown, request: Req): Promise<{ err: { code?: number; details?: string } | null; reply: Res | null }> {
  return new Promise((resolve) =>
    (handler as (c: { request: Req }, cb: (err: { code?: number } | null, reply: Res | null) => void) => void)({ request }, (err, reply) => resolve({ err, reply })),
  );
}

async function* body(text: string) {
  yield Buffer.from(text);
}

const ALICE = 'alice@example.test';
const open = (service: Service) => call<unknown, OpenMaildropReply>(service.openMaildrop, { mailbox: ALICE, leaseSeconds: 60 });
const fetchMany = (service: Service, leaseId: string, uidls: string[]) => call<unknown, FetchMessagesReply>(service.fetchMessages, { mailbox: ALICE, leaseId, uidls });

test('FetchMessages answers whole messages in the order asked and marks the missing ones', async () => {
  await withService(async (store, service) => {
    const texts = ['Subject: one\r\n\r\n1\r\n', 'Subject: two\r\n\r\n2\r\n', 'Subject: three\r\n\r\n3\r\n'];
    // Each text's uidl as the store gave it (deliveries within one millisecond are listed in uidl order).
    const uidls: string[] = [];
    for (const [i, text] of texts.entries()) uidls.push((await store.deliver(ALICE, { queueId: `Q${i}`, recipient: ALICE }, body(text))).uidl);
    const opened = (await open(service)).reply!;
    const { err, reply } = await fetchMany(service, opened.leaseId, [uidls[2]!, 'no-such-uidl', uidls[0]!]);
    assert.equal(err, null);
    assert.deepEqual(
      reply!.messages.map((m) => [m.uidl, Buffer.from(m.data).toString(), m.missing]),
      [
        [uidls[2], texts[2], false],
        ['no-such-uidl', '', true],
        [uidls[0], texts[0], false],
      ],
    );
  });
});

test('FetchMessages stops before the message that would pass 3 MiB, and needs the lease', async () => {
  await withService(async (store, service) => {
    const big = 'x'.repeat(900 * 1024 - 2) + '\r\n';
    for (let i = 0; i < 4; i++) await store.deliver(ALICE, { queueId: `B${i}`, recipient: ALICE }, body(big));
    const opened = (await open(service)).reply!;
    const uidls = opened.messages.map((m) => m.uidl);
    const { reply } = await fetchMany(service, opened.leaseId, uidls);
    assert.equal(reply!.messages.length, 3, 'three of 900 KiB fit, the fourth is left for the next call');
    assert.ok(reply!.messages.every((m) => m.data.length === big.length));
    const stranger = await fetchMany(service, 'not-the-lease', uidls);
    assert.ok(stranger.err, 'a caller without the lease is refused');
    assert.equal(stranger.reply, null);
  });
});

test('FetchMessages refuses a message larger than the answer after reading only what fits, not the whole message', async () => {
  await withService(async (store, service) => {
    const huge = ('y'.repeat(1022) + '\r\n').repeat(8 * 1024); // 8 MiB
    await store.deliver(ALICE, { queueId: 'H1', recipient: ALICE }, body(huge));
    let read = 0;
    const readMessage = store.readMessage.bind(store);
    store.readMessage = async function* (mailbox: string, uidl: string) {
      for await (const chunk of readMessage(mailbox, uidl)) {
        read += chunk.byteLength;
        yield chunk;
      }
    };
    const opened = (await open(service)).reply!;
    const { err } = await fetchMany(service, opened.leaseId, opened.messages.map((m) => m.uidl));
    assert.equal(err?.code, 8, 'RESOURCE_EXHAUSTED: the caller uses FetchMessage for it');
    assert.ok(read <= 3.5 * 1024 * 1024, `read ${read} bytes of an 8 MiB message before refusing it`);
  }, 16 * 1024 * 1024);
});
