// FetchMessage streams a large message in pieces over real gRPC (grpc-js server and client on loopback):
// a reader that stops reading holds back the store's reads, so a stalled POP3 client costs mailbox-store a
// few pieces, not the stream's whole buffer; a reader that reads gets every byte, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { MailboxStoreClient, MailboxStoreService, type Chunk, type OpenMaildropReply } from '@mail/contracts';
import { grpc } from '@mail/platform';
import { withService } from './service.test-support.js';

const ALICE = 'alice@example.test';
const PIECE = 64 * 1024; // the embedded store's read size for a message this large
const LARGE = ('z'.repeat(1022) + '\r\n').repeat(8 * 1024); // 8 MiB

async function* body(text: string) {
  yield Buffer.from(text);
}

async function withGrpc(run: (client: MailboxStoreClient, piecesRead: () => number) => Promise<void>) {
  await withService(async (store, service) => {
    await store.deliver(ALICE, { queueId: 'L1', recipient: ALICE }, body(LARGE));
    let pieces = 0;
    const readMessage = store.readMessage.bind(store);
    store.readMessage = async function* (mailbox: string, uidl: string) {
      for await (const piece of readMessage(mailbox, uidl)) {
        pieces++;
        yield piece;
      }
    };
    const server = new grpc.Server();
    server.addService(MailboxStoreService, service);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))));
    const client = new MailboxStoreClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      await run(client, () => pieces);
    } finally {
      client.close();
      server.forceShutdown();
    }
  }, 16 * 1024 * 1024);
}

const openMaildrop = (client: MailboxStoreClient) =>
  new Promise<OpenMaildropReply>((resolve, reject) => client.openMaildrop({ mailbox: ALICE, leaseSeconds: 60 }, (err, reply) => (err ? reject(err) : resolve(reply))));

test('a FetchMessage reader that stops reading holds the store back after a few pieces', async () => {
  await withGrpc(async (client, piecesRead) => {
    const opened = await openMaildrop(client);
    const call = client.fetchMessage({ mailbox: ALICE, leaseId: opened.leaseId, uidl: opened.messages[0]!.uidl });
    call.on('error', () => undefined); // cancelled below
    let received = 0;
    call.on('data', (chunk: Chunk) => {
      received += chunk.data.length;
      call.pause(); // one piece, then nothing more is read
    });
    await sleep(1000);
    const read = piecesRead();
    // The client's own buffer (16 messages), the HTTP/2 window (64 KiB) and the two pieces written ahead;
    // with the stream's own buffer in between (write until it says full), the store had read 25.
    assert.ok(read <= 20, `the store read ${read} pieces of 64 KiB for a reader that took ${received} bytes`);
    assert.ok(read < LARGE.length / PIECE, 'not the whole message');
    call.cancel();
  });
});

test('a FetchMessage reader that reads gets the whole message, byte for byte', async () => {
  await withGrpc(async (client) => {
    const opened = await openMaildrop(client);
    const call = client.fetchMessage({ mailbox: ALICE, leaseId: opened.leaseId, uidl: opened.messages[0]!.uidl });
    const pieces: Buffer[] = [];
    for await (const chunk of call as AsyncIterable<Chunk>) pieces.push(Buffer.from(chunk.data));
    assert.equal(Buffer.concat(pieces).toString(), LARGE);
  });
});
