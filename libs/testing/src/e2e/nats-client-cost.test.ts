// The NATS client as libs/platform sets it up, against a real nats-server: a successful request (a
// JetStream publish ack) builds no error object, a failing one still rejects with one; the spool
// keeps a message a consumer has not yet seen when an earlier one is removed; a finished message is
// discarded without answers; readiness follows a JetStream round trip, not the connection; a lane's
// concurrency counts jobs, not the batches carrying them; a spool publish lost with a dying server is
// sent again, soon.
import { strict as assert } from 'node:assert';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { AckPolicy } from '@nats-io/jetstream';
import { SPOOL_STREAM, ACCEPTED_CONSUMER, ACCEPTED_FILTER, encodePayload, REMOTE_JOB_CONSUMER, REMOTE_JOB_STREAM, remoteJobSubject, type AcceptedMessage, type DeliveryJob } from '@mail/contracts';
import { connectNats, ensureStreams, envelopeOf, probeJetStream, runJobConsumer, Spool } from '@mail/platform';
import { freePort, startNatsServer } from '@mail/launcher';
import { temporaryDirectory } from '../temporary-directories.js';

const require = createRequire(import.meta.url);

async function withNats(run: (nats: Awaited<ReturnType<typeof connectNats>>, subscriptions: () => Promise<number>) => Promise<void>) {
  const monitorPort = await freePort();
  const server = await startNatsServer(await temporaryDirectory('nats-cost-'), { extraArgs: ['-m', String(monitorPort)] });
  const nats = await connectNats(server.url, 'test', pino({ level: 'silent' }));
  // The server's count of this client's subscriptions (its monitoring endpoint), after a round trip.
  const subscriptions = async () => {
    await nats.nc.flush();
    const connz = (await (await fetch(`http://127.0.0.1:${monitorPort}/connz`)).json()) as { connections: { name?: string; subscriptions: number }[] };
    return connz.connections.find((c) => c.name === 'test')?.subscriptions ?? -1;
  };
  try {
    await run(nats, subscriptions);
  } finally {
    await nats.nc.close();
    await server.stop();
  }
}

const spooledEnvelope = (queueId: string): AcceptedMessage => ({ queueId, sender: 's@x.test', recipients: ['r@y.test'], localRecipients: [], size: 1, receivedAt: 0, smtputf8: false, eightBitMime: false, binaryMime: false, clientAddress: '', submittedBy: '', bounceOf: '', chunks: 0, chunkSeqs: [] });

test('successful requests build no RequestError; a failing request still rejects with an error', async () => {
  // The client's error classes live in a CommonJS module; count what gets constructed.
  const errorsPath = join(dirname(require.resolve('@nats-io/nats-core')), 'errors.js');
  const errors = require(errorsPath) as { RequestError: new (...args: unknown[]) => Error };
  const Original = errors.RequestError;
  let built = 0;
  errors.RequestError = class extends Original {
    constructor(...args: unknown[]) {
      super(...args);
      built++;
    }
  };
  try {
    await withNats(async (nats) => {
      await ensureStreams(nats, 1024 * 1024);
      for (let i = 0; i < 200; i++) await nats.js.publish(`mail.result.Q${i}`, new Uint8Array([1]));
      assert.equal(built, 0, 'no error objects for answered requests');
      await assert.rejects(nats.js.publish('no.stream.here', new Uint8Array([1]), { timeout: 2000 }));
    });
  } finally {
    errors.RequestError = Original;
  }
});

test('removing a spooled message never makes the heads consumer skip a later one', async () => {
  await withNats(async (nats) => {
    await ensureStreams(nats, 1024 * 1024);
    const spool = new Spool(nats);
    await nats.jsm.consumers.add(SPOOL_STREAM, { durable_name: ACCEPTED_CONSUMER, ack_policy: AckPolicy.Explicit, filter_subject: ACCEPTED_FILTER, headers_only: true });
    const first = await spool.put(spooledEnvelope('A0000000000000000001'), new TextEncoder().encode('one'));
    const big = new Uint8Array(2 * 1024 * 1024).fill(65); // chunked
    await spool.put(spooledEnvelope('A0000000000000000002'), big);
    await spool.put(spooledEnvelope('A0000000000000000003'), new TextEncoder().encode('three'));
    const consumer = await nats.js.consumers.get(SPOOL_STREAM, ACCEPTED_CONSUMER);
    const head = await consumer.next({ expires: 2000 });
    assert.equal(envelopeOf(head!.headers).queueId, 'A0000000000000000001');
    head!.ack();
    await spool.remove('A0000000000000000001', first);
    assert.equal(await spool.exists('A0000000000000000001'), false);
    assert.ok(Buffer.from(big).equals(Buffer.from((await spool.read('A0000000000000000002'))!)), 'a chunked message reads back whole');
    const seen: string[] = [];
    for (let i = 0; i < 2; i++) {
      const next = await consumer.next({ expires: 2000 });
      assert.ok(next, 'the later heads are still delivered');
      seen.push(envelopeOf(next.headers).queueId);
      next.ack();
    }
    assert.deepEqual(seen, ['A0000000000000000002', 'A0000000000000000003']);
    await spool.remove('A0000000000000000002');
    assert.equal(await spool.read('A0000000000000000002'), null, 'chunks and head removed');
  });
});

test('spool reads of one moment share one request: every head comes back with its envelope, a missing one as null, a chunked one whole, and no subscription stays behind', async () => {
  await withNats(async (nats, subscriptions) => {
    await ensureStreams(nats, 8 * 1024 * 1024);
    const writer = new Spool(nats);
    const queueIds = Array.from({ length: 12 }, (_, i) => `B${String(i).padStart(19, '0')}`);
    for (const queueId of queueIds) await writer.put(spooledEnvelope(queueId), new TextEncoder().encode(`body of ${queueId}`));
    const big = new Uint8Array(2 * 1024 * 1024).fill(66); // chunked: its head comes in the batch, its chunks after
    await writer.put(spooledEnvelope('B9999999999999999999'), big);
    const reader = new Spool(nats);
    const subscriptionsBefore = await subscriptions();
    const requestsBefore = nats.nc.stats().outMsgs;
    const [read, missing, chunked] = await Promise.all([
      Promise.all(queueIds.map((queueId) => reader.readWithEnvelope(queueId))),
      reader.readWithEnvelope('B0000000000000000404'),
      reader.readWithEnvelope('B9999999999999999999'),
    ]);
    const requests = nats.nc.stats().outMsgs - requestsBefore;
    read.forEach((message, i) => {
      assert.equal(message?.envelope.queueId, queueIds[i]);
      assert.equal(new TextDecoder().decode(message!.message), `body of ${queueIds[i]}`);
    });
    assert.equal(missing, null, 'a message not in the spool reads as null');
    assert.ok(Buffer.from(big).equals(Buffer.from(chunked!.message)), 'a chunked message reads back whole');
    // One batched get for the 14 heads; the miss asked again on its own, directly and of the leader; the 4 chunks.
    assert.ok(requests <= 1 + 2 + 4, `${requests} requests for 14 reads`);
    // The batch's reply subscription ends with the batch (the client's iterator form kept it for 5 s).
    assert.equal(await subscriptions(), subscriptionsBefore, 'no reply subscription left once the reads are answered');
  });
});

test('a finished message is discarded without an answer per part: the spool empties, and the server sends nothing back for it', async () => {
  await withNats(async (nats) => {
    await ensureStreams(nats, 8 * 1024 * 1024);
    const spool = new Spool(nats);
    const parts = new Map<string, number[]>();
    for (let i = 0; i < 20; i++) {
      const queueId = `D${String(i).padStart(19, '0')}`;
      parts.set(queueId, await spool.put(spooledEnvelope(queueId), new TextEncoder().encode(`body ${i}`)));
    }
    parts.set('D9999999999999999999', await spool.put(spooledEnvelope('D9999999999999999999'), new Uint8Array(2 * 1024 * 1024).fill(67))); // chunked
    const answersBefore = nats.nc.stats().inMsgs;
    for (const [queueId, seqs] of parts) await spool.discard(queueId, seqs);
    // Deletes are handled after the server has read them: poll the stream until it is empty.
    let reads = 0;
    let left = -1;
    for (const deadline = Date.now() + 10_000; left !== 0 && Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
      reads++;
      left = (await nats.jsm.streams.info(SPOOL_STREAM)).state.messages;
    }
    assert.equal(left, 0, 'every part of every message deleted');
    assert.equal(nats.nc.stats().inMsgs - answersBefore, reads, 'no answers but those to the stream reads');
    // Without the parts' sequence numbers the head is looked up first.
    await spool.put(spooledEnvelope('D0000000000000000404'), new TextEncoder().encode('looked up'));
    await spool.discard('D0000000000000000404', []);
    assert.equal(await spool.exists('D0000000000000000404'), false);
  });
});

test('readiness follows a timed JetStream round trip: a stalled server is not ready though still connected', async () => {
  const server = await startNatsServer(await temporaryDirectory('nats-probe-'));
  const nats = await connectNats(server.url, 'probe', pino({ level: 'silent' }));
  const probe = probeJetStream(nats, { intervalMs: 200, timeoutMs: 500 });
  const until = async (want: boolean) => {
    const deadline = Date.now() + 5000;
    while (probe.healthy() !== want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return probe.healthy();
  };
  try {
    await ensureStreams(nats, 1024 * 1024);
    assert.equal(await until(true), true, 'ready');
    // Stalled (as a wedged JetStream is): the TCP connection stays up, nothing gets answered.
    process.kill(server.process.child.pid!, 'SIGSTOP');
    assert.equal(await until(false), false, 'not ready while stalled');
    assert.equal(nats.connected(), true, 'though the client still counts itself connected');
    process.kill(server.process.child.pid!, 'SIGCONT');
    assert.equal(await until(true), true, 'ready again');
  } finally {
    process.kill(server.process.child.pid!, 'SIGCONT');
    probe.stop();
    await nats.nc.close();
    await server.stop();
  }
});

test("a lane's concurrency bounds the jobs in hand, not the broker messages that carry them in batches; every message is acknowledged once its jobs are done", async () => {
  await withNats(async (nats) => {
    await ensureStreams(nats, 1024 * 1024);
    const job = (i: number): DeliveryJob => ({ queueId: `Q${i}`, jobId: `Q${i}.1`, sender: 's@x.test', recipients: ['r@y.test'], smtputf8: false, domain: 'y.test' });
    // Three broker messages of 20 jobs each: with messages counted, 4 "slots" would let 60 jobs run at once.
    for (let m = 0; m < 3; m++) await nats.js.publish(remoteJobSubject(`B${m}`), encodePayload({ jobs: Array.from({ length: 20 }, (_, i) => job(m * 20 + i)) }));
    let inHand = 0;
    let most = 0;
    const done = new Set<string>();
    const stop = await runJobConsumer(nats, {
      stream: REMOTE_JOB_STREAM,
      durable: REMOTE_JOB_CONSUMER,
      concurrency: 4,
      ackWaitMs: 30_000,
      logger: pino({ level: 'silent' }),
      handleJob: async (j) => {
        most = Math.max(most, ++inHand);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inHand--;
        done.add(j.jobId);
      },
    });
    try {
      for (let waited = 0; done.size < 60 && waited < 20_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(done.size, 60, 'every job handled');
      assert.equal(most, 4, 'never more than 4 jobs in hand, though three messages of 20 were');
      let info = await nats.jsm.consumers.info(REMOTE_JOB_STREAM, REMOTE_JOB_CONSUMER);
      for (let waited = 0; info.num_ack_pending > 0 && waited < 5000; waited += 50) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        info = await nats.jsm.consumers.info(REMOTE_JOB_STREAM, REMOTE_JOB_CONSUMER);
      }
      assert.equal(info.num_ack_pending, 0, 'all three messages acknowledged');
      assert.equal((await nats.jsm.streams.info(REMOTE_JOB_STREAM)).state.messages, 0, 'the work queue is empty');
    } finally {
      await stop();
    }
  });
});

test('a spool publish lost with the server that held it is sent again after a short attempt, not after the whole deadline, and stored once', async () => {
  const storeDir = await temporaryDirectory('nats-lost-');
  let server = await startNatsServer(storeDir);
  const nats = await connectNats(server.url, 'writer', pino({ level: 'silent' }));
  const attempts: (number | undefined)[] = [];
  const publish = nats.js.publish.bind(nats.js);
  nats.js.publish = (subject, payload, options) => (attempts.push(options?.timeout), publish(subject, payload, options));
  try {
    await ensureStreams(nats, 1024 * 1024);
    const spool = new Spool(nats, 60_000);
    // The request reaches a stalled server's socket, and the server dies without answering it.
    process.kill(server.process.child.pid!, 'SIGSTOP');
    const put = spool.put(spooledEnvelope('LOST1'), new TextEncoder().encode('Subject: x\r\n\r\nbody\r\n'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(server.process.child.pid!, 'SIGKILL');
    await server.process.exited;
    server = await startNatsServer(storeDir, { port: server.port });
    const seqs = await put;
    assert.ok(attempts.length >= 2, `sent again (${attempts.length} attempts)`);
    assert.ok(attempts.every((timeout) => timeout !== undefined && timeout <= 3000), `every attempt short: ${attempts.join(', ')} ms`);
    const stream = await nats.jsm.streams.info(SPOOL_STREAM);
    assert.equal(stream.state.messages, 1, 'stored once');
    assert.equal(seqs.at(-1), stream.state.last_seq);
  } finally {
    await nats.nc.close();
    await server.stop();
  }
});
