// The spool: each accepted message, bytes and envelope, from acceptance until queue-manager lets it
// go, in the JetStream stream MAIL_SPOOL (limits retention: a message stays until it is purged).
//
// One publish makes a message durable *and* announces it: the head message `mail.spool.<queue id>`
// carries the envelope in the `Mail-Envelope` header and the bytes as payload, and queue-manager's
// durable consumer reads the heads, headers only. A message too large for one NATS message goes first
// in chunks (`mail.spool.<queue id>.<n>`), then its head with an empty payload and the chunk count.
// Reads are single stream-message gets by subject (no consumer is created per read). Removal deletes
// the message's parts by sequence number — never a purge by subject, which (seen on nats-server 2.9)
// moves a consumer's position past heads it has not yet delivered: accepted mail would be skipped.
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import { JetStreamApiError, type JsMsg } from '@nats-io/jetstream';
import { ACCEPTED_FILTER, AcceptedMessage, SPOOL_STREAM, spoolChunkSubject, spoolSubject } from '@mail/contracts';
import { Batcher } from './batcher.js';
import type { NatsContext } from './nats.js';

export const ENVELOPE_HEADER = 'Mail-Envelope';
/** Head payloads up to this size (bytes + envelope) go in one message; NATS's default max_payload is 1 MiB. */
const INLINE_LIMIT = 768 * 1024;
const CHUNK_BYTES = 512 * 1024;
/** The chunks of chunked messages (`mail.spool.<queue id>.<n>`), not the heads. */
const CHUNK_FILTER = 'mail.spool.*.*';

/** The envelope of a spooled message, from its head's headers. Throws on a malformed one. */
export function envelopeOf(headers: MsgHdrs | undefined): AcceptedMessage {
  const value = headers?.get(ENVELOPE_HEADER);
  if (!value) throw new SyntaxError(`spool message without a ${ENVELOPE_HEADER} header`);
  return AcceptedMessage.parse(JSON.parse(value));
}

export class Spool {
  /**
   * Deletions of the moment go out together (one socket write for many requests, their answers in one
   * read): queue-manager removes a message per delivered mail. Each answers its own error, if any.
   */
  private readonly deletions = new Batcher(
    (seqs: number[]) =>
      Promise.all(
        seqs.map((seq) =>
          this.nats.jsm.streams.deleteMessage(SPOOL_STREAM, seq, false).then(
            () => undefined,
            (err: unknown) => (/no message found|not found/i.test(String(err)) ? undefined : err),
          ),
        ),
      ),
    { maxItems: 256, maxCalls: 8 },
  );

  constructor(
    private readonly nats: NatsContext,
    private readonly timeoutMs = 10_000,
    /** Deletes the parts of a message it failed to queue (a writer with the right to delete). */
    private readonly removesLeftovers = true,
  ) {}

  /**
   * Makes the message durable and queues it; resolves once JetStream has acknowledged every part,
   * with the sequence numbers of the parts (chunks first, the head last).
   */
  async put(envelope: AcceptedMessage, message: Uint8Array): Promise<number[]> {
    const { queueId } = envelope;
    const json = JSON.stringify(envelope);
    const inline = message.length + json.length <= INLINE_LIMIT;
    const chunks = inline ? 0 : Math.max(1, Math.ceil(message.length / CHUNK_BYTES));
    const seqs: number[] = [];
    let publishHead: (() => Promise<number>) | undefined;
    try {
      for (let i = 0; i < chunks; i++) {
        const part = message.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
        const ack = await this.nats.js.publish(spoolChunkSubject(queueId, i), part, { msgID: `${queueId}.${i}`, timeout: this.timeoutMs, expect: { streamName: SPOOL_STREAM } });
        seqs.push(ack.seq);
      }
      const headers = natsHeaders();
      headers.set(ENVELOPE_HEADER, chunks ? JSON.stringify({ ...envelope, chunks, chunkSeqs: seqs }) : json);
      publishHead = async () =>
        (await this.nats.js.publish(spoolSubject(queueId), chunks ? new Uint8Array() : message, { msgID: queueId, headers, timeout: this.timeoutMs, expect: { streamName: SPOOL_STREAM } })).seq;
      seqs.push(await publishHead());
      return seqs;
    } catch (err) {
      // A head publish that failed without an answer (the broker died or timed out mid-request) may
      // have been stored all the same, and would then be delivered after a 451. Publish it again before
      // answering: JetStream drops a repeat of the message id and answers with the first one's sequence
      // number, so an answer means durable either way, and the client gets its 250. (A publish instead
      // of a read: smtp-ingress may write the spool, never read it.)
      const head = publishHead && !(err instanceof JetStreamApiError) ? await this.publishAgain(publishHead) : undefined;
      if (head !== undefined) return [...seqs, head];
      // Not queued: the client is told 451 and sends again, so whatever got stored is garbage. A
      // writer without the right to delete (smtp-ingress) leaves its chunks to queue-manager's sweep.
      if (this.removesLeftovers) await this.remove(queueId, seqs).catch(() => undefined);
      throw err;
    }
  }

  /** The head's sequence number once a publish of it is answered, asking for a few seconds while the broker is away. */
  private async publishAgain(publishHead: () => Promise<number>): Promise<number | undefined> {
    const until = Date.now() + this.timeoutMs;
    for (;;) {
      try {
        return await publishHead();
      } catch (err) {
        // An answer that refuses (the spool is full) is final; silence is asked again.
        if (err instanceof JetStreamApiError || Date.now() > until) return undefined;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  /** The message's bytes, or null when it is not (or no longer) in the spool. */
  async read(queueId: string): Promise<Uint8Array | null> {
    return (await this.readWithEnvelope(queueId))?.message ?? null;
  }

  /** The message's envelope and bytes, or null when it is not (or no longer) in the spool. */
  async readWithEnvelope(queueId: string): Promise<{ envelope: AcceptedMessage; message: Uint8Array } | null> {
    const head = await this.get(spoolSubject(queueId));
    if (!head) return null;
    const envelope = envelopeOf(head.header);
    if (!envelope.chunks) return { envelope, message: head.data };
    const parts: Uint8Array[] = [];
    for (let i = 0; i < envelope.chunks; i++) {
      const part = await this.get(spoolChunkSubject(queueId, i));
      if (!part) return null;
      parts.push(part.data);
    }
    return { envelope, message: Buffer.concat(parts) };
  }

  /**
   * One spooled message by subject, read with a direct get: the bytes come as they are, where the stream
   * API's get wraps them in base64 inside JSON (for a 200 KB message, most of delivery-agent's CPU). A
   * direct get may be answered by a replica that lags its leader, so a miss is asked again of the leader.
   */
  private async get(subject: string): Promise<{ seq: number; data: Uint8Array; header: MsgHdrs | undefined } | null> {
    const direct = await this.nats.jsm.direct.getMessage(SPOOL_STREAM, { last_by_subj: subject }).catch(() => null);
    if (direct) return { seq: direct.seq, data: direct.data, header: direct.header };
    return this.nats.jsm.streams.getMessage(SPOOL_STREAM, { last_by_subj: subject });
  }

  async exists(queueId: string): Promise<boolean> {
    return (await this.nats.jsm.streams.getMessage(SPOOL_STREAM, { last_by_subj: spoolSubject(queueId) })) !== null;
  }

  /**
   * The spool's messages on `filter` now, oldest first, headers only (no bytes), through a throwaway
   * ordered consumer: one small message per spooled part; for takeover, the operator's view and the
   * sweep, not the message path.
   */
  private async *scan(filter: string): AsyncGenerator<JsMsg> {
    const consumer = await this.nats.js.consumers.get(SPOOL_STREAM, { filter_subjects: [filter], headers_only: true });
    try {
      let pending = (await consumer.info(true)).num_pending;
      while (pending > 0) {
        const batch = await consumer.fetch({ max_messages: Math.min(pending, 1000), expires: this.timeoutMs });
        let got = 0;
        for await (const m of batch) {
          got++;
          pending = m.info.pending;
          yield m;
        }
        if (got === 0) break; // the stream changed under us (messages removed meanwhile)
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  /** Every message in the spool now, oldest first: its envelope and the sequence number of its head. */
  async *heads(): AsyncGenerator<{ envelope: AcceptedMessage; seq: number }> {
    for await (const m of this.scan(ACCEPTED_FILTER)) {
      let envelope: AcceptedMessage;
      try {
        envelope = envelopeOf(m.headers);
      } catch {
        continue; // not a head this version can read: left for the consumer to report
      }
      yield { envelope, seq: m.seq };
    }
  }

  /**
   * Deletes chunks that no head names: those of a message whose queueing failed after some chunks were
   * stored (smtp-ingress may not delete them itself), or whose removal was cut short. A message's chunks
   * count as orphaned once its newest is older than `olderThanMs` and its head is not in the spool; a
   * chunked put publishes its parts back to back (each within the publish timeout), so a message being
   * queued right now is never taken for one. queue-manager runs it now and then. Returns how many
   * chunks it deleted.
   */
  async sweepOrphanChunks(olderThanMs: number): Promise<number> {
    const messages = new Map<string, { seqs: number[]; newest: number }>();
    for await (const m of this.scan(CHUNK_FILTER)) {
      const queueId = m.subject.split('.')[2]!;
      const seen = messages.get(queueId) ?? { seqs: [], newest: 0 };
      seen.seqs.push(m.seq);
      seen.newest = Math.max(seen.newest, m.info.timestampNanos / 1e6);
      messages.set(queueId, seen);
    }
    let deleted = 0;
    for (const [queueId, { seqs, newest }] of messages) {
      if (Date.now() - newest < olderThanMs || (await this.get(spoolSubject(queueId)))) continue;
      await this.remove(queueId, seqs);
      deleted += seqs.length;
    }
    return deleted;
  }

  /**
   * Removes the message: the parts with the sequence numbers given (chunks and head, as its consumer
   * saw them), or, without them, the parts found by looking the head up. A no-op when it is gone.
   */
  async remove(queueId: string, seqs: number[] = []): Promise<void> {
    let parts = seqs;
    if (parts.length === 0) {
      const head = await this.nats.jsm.streams.getMessage(SPOOL_STREAM, { last_by_subj: spoolSubject(queueId) });
      if (!head) return;
      parts = [...envelopeOf(head.header).chunkSeqs, head.seq];
    }
    const failures = (await Promise.all(parts.map((seq) => this.deletions.add(seq)))).filter((err) => err !== undefined);
    if (failures.length > 0) throw failures[0];
  }
}
