// The spool under the services' NATS users (libs/contracts nats-permissions.ts), on a real nats-server:
// smtp-ingress's user queues mail but cannot take back what it wrote, so chunks of a message whose
// queueing failed part-way stay until queue-manager's sweep deletes them; a message being queued, or
// one with its head, is left alone. A message written as it arrives has its chunks stored before its end,
// is read back whole after commit, and its chunks are left alone by the sweep while they are marked live.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { AcceptedMessage, SPOOL_STREAM, spoolChunkSubject, STREAMS_USED, type NatsService } from '@mail/contracts';
import { awaitStreams, connectNats, ensureStreams, loadNatsSettings, Spool } from '@mail/platform';
import { startNatsServer, writeNatsAuth } from '@mail/launcher';
import { temporaryDirectory } from '../temporary-directories.js';

const envelope = (queueId: string) => AcceptedMessage.parse({ queueId, sender: 'a@remote.test', recipients: ['b@example.test'], size: 0, receivedAt: Date.now() });

async function spoolUsers() {
  const dir = await temporaryDirectory('spool-permissions-');
  const auth = await writeNatsAuth(dir);
  const server = await startNatsServer(join(dir, 'nats'), { extraArgs: ['-c', auth.configFile] });
  const logger = pino({ level: 'silent' });
  const as = (service: NatsService) => connectNats(server.url, service, logger, loadNatsSettings(auth.env(service)));
  const manager = await as('queue-manager');
  const ingress = await as('smtp-ingress');
  await ensureStreams(manager, 64 * 1024 * 1024);
  await awaitStreams(ingress, STREAMS_USED['smtp-ingress'], logger);
  return {
    manager,
    ingress,
    stop: async () => {
      await ingress.nc.close();
      await manager.nc.close();
      await server.stop();
    },
  };
}

const chunksOf = async (nats: Awaited<ReturnType<typeof spoolUsers>>['manager'], queueId: string) =>
  (await nats.jsm.streams.info(SPOOL_STREAM, { subjects_filter: `mail.spool.${queueId}.*` })).state.subjects ?? {};

test('a message written as it arrives is stored in chunks before its end, and read back whole after commit', async () => {
  const users = await spoolUsers();
  try {
    const intake = new Spool(users.ingress, 5000, false);
    const queue = new Spool(users.manager);
    const writer = intake.writer('STREAMED', { liveForMs: 60_000 });
    const message = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < message.length; i++) message[i] = 32 + (i % 90);
    for (let offset = 0; offset < 2 * 1024 * 1024; offset += 64 * 1024) writer.write(message.subarray(offset, offset + 64 * 1024));
    // Two megabytes in: chunks are in the spool already, though nothing is queued.
    const before = await (async () => {
      for (let i = 0; i < 100; i++) {
        const n = Object.keys(await chunksOf(users.manager, 'STREAMED')).length;
        if (n >= 3) return n;
        await new Promise((r) => setTimeout(r, 50));
      }
      return 0;
    })();
    assert.ok(before >= 3, `chunks stored while the message arrives (${before})`);
    assert.equal(await queue.exists('STREAMED'), false, 'not queued before commit');
    writer.write(message.subarray(2 * 1024 * 1024));
    const seqs = await writer.commit(envelope('STREAMED'), Buffer.from('Received: by test\r\n'));
    assert.equal(seqs.length, 7, 'six chunks of 512 KiB and the head');
    const read = await queue.readWithEnvelope('STREAMED');
    assert.ok(read && Buffer.from(read.message).equals(Buffer.concat([Buffer.from('Received: by test\r\n'), message])), 'prefix, then the message');
    assert.equal(read!.envelope.size, message.length + 19);
    assert.equal(read!.envelope.chunks, 6);
  } finally {
    await users.stop();
  }
});

test('the chunks of a message still arriving are left alone by the sweep until they are no longer marked live', async () => {
  const users = await spoolUsers();
  try {
    const intake = new Spool(users.ingress, 5000, false);
    const queue = new Spool(users.manager);
    const writer = intake.writer('SLOW', { liveForMs: 3000 });
    writer.write(Buffer.alloc(1024 * 1024, 0x61)); // one chunk stored, half a chunk pending
    // A slow client: its pending bytes are stored after a third of liveForMs, not left in memory.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(Object.keys(await chunksOf(users.manager, 'SLOW')).length, 2);
    assert.equal(await queue.sweepOrphanChunks(0), 0, 'live: not an orphan, however old');
    writer.abort(); // the client went away; smtp-ingress may not delete what it stored
    await new Promise((r) => setTimeout(r, 3200));
    assert.equal(await queue.sweepOrphanChunks(0), 2, 'no longer live, no head: swept');
  } finally {
    await users.stop();
  }
});

test("orphaned chunks that smtp-ingress's user may not delete are swept by queue-manager's; queued mail is left alone", async () => {
  const { manager, ingress, stop } = await spoolUsers();
  try {
    const intake = new Spool(ingress, 5000, false);
    const queue = new Spool(manager);
    // A large message queued whole (chunks and head), and the chunks of one whose head never came.
    const big = new Uint8Array(1_200_000).fill(65);
    await intake.put(envelope('QUEUED'), big);
    const orphans = [];
    for (let i = 0; i < 2; i++) orphans.push((await ingress.js.publish(spoolChunkSubject('HALFWAY', i), big.subarray(0, 1000))).seq);
    // smtp-ingress cannot delete them itself.
    await assert.rejects(ingress.jsm.streams.deleteMessage(SPOOL_STREAM, orphans[0]!), /permissions violation/i);
    // Too recent to be orphans: a message may be being queued right now.
    assert.equal(await queue.sweepOrphanChunks(60_000), 0);
    assert.equal(await queue.sweepOrphanChunks(0), 2);
    for (const seq of orphans) assert.equal(await manager.jsm.streams.getMessage(SPOOL_STREAM, { seq }), null, `chunk ${seq} deleted`);
    const queued = await queue.read('QUEUED');
    assert.ok(queued && Buffer.from(queued).equals(Buffer.from(big)), 'the queued message is whole');
    assert.equal(await queue.sweepOrphanChunks(0), 0);
  } finally {
    await stop();
  }
});
