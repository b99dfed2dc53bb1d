// The spool under the services' NATS users (libs/contracts nats-permissions.ts), on a real nats-server:
// smtp-ingress's user queues mail but cannot take back what it wrote, so chunks of a message whose
// queueing failed part-way stay until queue-manager's sweep deletes them; a message being queued, or
// one with its head, is left alone.
import { strict as assert } from 'node:assert';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { SPOOL_STREAM, spoolChunkSubject, STREAMS_USED, type NatsService } from '@mail/contracts';
import { awaitStreams, connectNats, ensureStreams, loadNatsSettings, Spool } from '@mail/platform';
import { startNatsServer, writeNatsAuth } from '@mail/launcher';

const envelope = (queueId: string) => ({
  queueId,
  sender: 'a@remote.test',
  recipients: ['b@example.test'],
  localRecipients: [],
  size: 0,
  receivedAt: Date.now(),
  smtputf8: false,
  eightBitMime: false,
  binaryMime: false,
  clientAddress: '',
  submittedBy: '',
  bounceOf: '',
  chunks: 0,
  chunkSeqs: [],
});

test("orphaned chunks that smtp-ingress's user may not delete are swept by queue-manager's; queued mail is left alone", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'spool-permissions-'));
  const auth = await writeNatsAuth(dir);
  const server = await startNatsServer(join(dir, 'nats'), { extraArgs: ['-c', auth.configFile] });
  const logger = pino({ level: 'silent' });
  const as = (service: NatsService) => connectNats(server.url, service, logger, loadNatsSettings(auth.env(service)));
  const manager = await as('queue-manager');
  const ingress = await as('smtp-ingress');
  try {
    await ensureStreams(manager, 8 * 1024 * 1024);
    await awaitStreams(ingress, STREAMS_USED['smtp-ingress'], logger);
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
    await ingress.nc.close();
    await manager.nc.close();
    await server.stop();
  }
});
