// The spool: each accepted message, bytes and envelope, from acceptance until queue-manager lets it
// go, in the JetStream stream MAIL_SPOOL (limits retention: a message stays until it is purged).
//
// One publish makes a message durable *and* announces it: the head message `mail.spool.<queue id>`
// carries the envelope in the `Mail-Envelope` header and the bytes as payload, and queue-manager's
// durable consumer reads the heads, headers only. A message too large for one NATS message goes first
// in chunks (`mail.spool.<queue id>.<n>`), then its head with the chunk count and, as payload, what goes
// before the chunks (the receiver's trace headers, written last but read first). A message being received
// is written as it arrives (SpoolWriter): once it outgrows one NATS message, its chunks are stored while
// the client is still sending, so a large message is never held whole in smtp-ingress's memory.
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
/** One attempt of a spool publish at most (see Spool.publish). */
const PUBLISH_ATTEMPT_MS = 3000;
/** A writer with more than this handed to JetStream and not yet acknowledged asks its source to wait. */
const BACKLOG_BYTES = 2 * CHUNK_BYTES;
/** The chunks of chunked messages (`mail.spool.<queue id>.<n>`), not the heads. */
const CHUNK_FILTER = 'mail.spool.*.*';
/**
 * On a chunk: until when (ms since the epoch) its writer may still be receiving the message. The sweep
 * leaves a message's chunks alone while any of them says so: a slow client's message is not an orphan.
 */
export const LIVE_UNTIL_HEADER = 'Mail-Live-Until';

export interface SpoolWriterOptions {
  /**
   * How long the writer may go without storing a part while the message is still arriving (the client's
   * idle limits, with a margin): each chunk is marked live for this long, and pending bytes are stored at
   * least every third of it, so a live message always has a chunk marked live.
   */
  liveForMs: number;
}

/** The envelope of a spooled message, from its head's headers. Throws on a malformed one. */
export function envelopeOf(headers: MsgHdrs | undefined): AcceptedMessage {
  const value = headers?.get(ENVELOPE_HEADER);
  if (!value) throw new SyntaxError(`spool message without a ${ENVELOPE_HEADER} header`);
  return AcceptedMessage.parse(JSON.parse(value));
}

/** One stored part of a spooled message (a head or a chunk). */
interface StoredPart {
  seq: number;
  data: Uint8Array;
  header: MsgHdrs | undefined;
}

export class Spool {
  /**
   * Deletions of the moment go out together (one socket write for many requests, their answers in one
   * read): the sweep's and a failed queueing's, which want answers. Each answers its own error, if any.
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

  /**
   * Head reads of the moment go out together: one direct get names many subjects (`multi_last`, nats-server
   * 2.11+) and is answered with every head found, where one get each cost a request and a reply per mail.
   */
  private readonly headReads = new Batcher((subjects: string[]) => this.getMany(subjects), { maxItems: 64, maxCalls: 4 });

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
    const writer = this.writer(envelope.queueId, { liveForMs: 10 * this.timeoutMs });
    writer.write(message);
    return writer.commit(envelope);
  }

  /** A message written as it arrives, queued by commit(). */
  writer(queueId: string, options: SpoolWriterOptions): SpoolWriter {
    return new SpoolWriter(queueId, options, {
      publish: (subject, payload, publishOptions) => this.publish(subject, payload, publishOptions),
      dropLeftovers: (seqs) => this.dropLeftovers(queueId, seqs),
    });
  }

  /**
   * Stores one part, asking again while the broker is silent, each attempt at most PUBLISH_ATTEMPT_MS, until
   * `timeoutMs` has passed. A request sent to a node that then died is never answered; one attempt as long
   * as the whole deadline kept every session writing then waiting that long (15 s without a 250 across a
   * cluster's node kill). Sent again, the same message id is stored once (the duplicate window) and
   * answered with the first one's sequence number, so an answer means durable either way: a head that
   * went unanswered but was stored still gets its 250, not a 451 and a second copy. (A publish again,
   * not a read: smtp-ingress may write the spool, never read it.) An answer that refuses (a full spool)
   * is final.
   */
  private async publish(subject: string, payload: Uint8Array, options: { msgID: string; headers?: MsgHdrs }): Promise<number> {
    const until = Date.now() + this.timeoutMs;
    for (;;) {
      const started = Date.now();
      const timeout = Math.max(1, Math.min(PUBLISH_ATTEMPT_MS, until - started));
      try {
        return (await this.nats.js.publish(subject, payload, { ...options, timeout, expect: { streamName: SPOOL_STREAM } })).seq;
      } catch (err) {
        if (err instanceof JetStreamApiError || Date.now() >= until) throw err;
        // Refused at once (no responders while the stream elects a leader): not straight back.
        if (Date.now() - started < 250) await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  /**
   * The parts of a message that was not queued: the client is told 451 and sends again, so whatever got
   * stored is garbage. A writer without the right to delete (smtp-ingress) leaves them to the sweep.
   */
  private async dropLeftovers(queueId: string, seqs: number[]): Promise<void> {
    if (this.removesLeftovers && seqs.length > 0) await this.remove(queueId, seqs).catch(() => undefined);
  }

  /** The message's bytes, or null when it is not (or no longer) in the spool. */
  async read(queueId: string): Promise<Uint8Array | null> {
    return (await this.readWithEnvelope(queueId))?.message ?? null;
  }

  /** The message's envelope and bytes, or null when it is not (or no longer) in the spool. */
  async readWithEnvelope(queueId: string): Promise<{ envelope: AcceptedMessage; message: Uint8Array } | null> {
    const head = await this.headReads.add(spoolSubject(queueId));
    if (!head) return null;
    const envelope = envelopeOf(head.header);
    if (!envelope.chunks) return { envelope, message: head.data };
    const parts: Uint8Array[] = [head.data]; // what goes before the chunks (empty when written by put())
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
  private async get(subject: string): Promise<StoredPart | null> {
    const direct = await this.nats.jsm.direct.getMessage(SPOOL_STREAM, { last_by_subj: subject }).catch(() => null);
    if (direct) return { seq: direct.seq, data: direct.data, header: direct.header };
    return this.nats.jsm.streams.getMessage(SPOOL_STREAM, { last_by_subj: subject });
  }

  /**
   * Several spooled messages by subject, in the order asked. One batched direct get brings what it finds;
   * a subject it did not bring (not stored, or a replica behind its leader), or every subject when the
   * server cannot batch (before 2.11), is read on its own through get(), with get()'s answer.
   */
  private async getMany(subjects: string[]): Promise<(StoredPart | null)[]> {
    if (subjects.length === 1) return [await this.get(subjects[0]!)];
    const found = await this.directBatch(subjects);
    return Promise.all(subjects.map((subject) => found.get(subject) ?? this.get(subject)));
  }

  /**
   * What one batched direct get finds of `subjects`; after a failure, what came before it. Taken through
   * the client's callback form, which unsubscribes at the end of the batch: its iterator form keeps each
   * batch's reply subscription, and a timer, until a 5 s timeout fires (@nats-io/jetstream 3.x).
   */
  private directBatch(subjects: string[]): Promise<Map<string, StoredPart>> {
    const found = new Map<string, StoredPart>();
    return new Promise((resolve) => {
      this.nats.jsm.direct
        .getLastMessagesFor(SPOOL_STREAM, {
          multi_last: subjects,
          callback: (done, stored) => {
            if (done) resolve(found);
            else found.set(stored.subject, { seq: stored.seq, data: stored.data, header: stored.header });
          },
        })
        .catch(() => resolve(found));
    });
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
    const messages = new Map<string, { seqs: number[]; newest: number; liveUntil: number }>();
    for await (const m of this.scan(CHUNK_FILTER)) {
      const queueId = m.subject.split('.')[2]!;
      const seen = messages.get(queueId) ?? { seqs: [], newest: 0, liveUntil: 0 };
      seen.seqs.push(m.seq);
      seen.newest = Math.max(seen.newest, m.info.timestampNanos / 1e6);
      seen.liveUntil = Math.max(seen.liveUntil, Number(m.headers?.get(LIVE_UNTIL_HEADER) || 0));
      messages.set(queueId, seen);
    }
    let deleted = 0;
    for (const [queueId, { seqs, newest, liveUntil }] of messages) {
      const now = Date.now();
      if (now - newest < olderThanMs || now < liveUntil || (await this.get(spoolSubject(queueId)))) continue;
      await this.remove(queueId, seqs);
      deleted += seqs.length;
    }
    return deleted;
  }

  /**
   * Removes a message whose course is over, without waiting for answers: each part's delete goes as a
   * plain publish to the stream's delete API. With no reply subject the server composes and sends no
   * answer and the client keeps no request: 0.05 ms less CPU per mail in nats-server and queue-manager
   * together, of 2.3 ms in all, at 1 KB × 16 (BENCHMARKS.md). Nothing would be done with an answer: a
   * message left in the spool (a delete lost with a dropped connection) is found again by queue-manager,
   * which remembers what it finished and deletes it again rather than delivering it twice (QueueCore).
   * Without the parts' sequence numbers the head is looked up first, as remove() does.
   */
  async discard(queueId: string, seqs: number[]): Promise<void> {
    if (seqs.length === 0) return this.remove(queueId);
    for (const seq of seqs) this.nats.nc.publish(`$JS.API.STREAM.MSG.DELETE.${SPOOL_STREAM}`, JSON.stringify({ seq, no_erase: true }));
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

/** What a writer does through its spool. */
interface SpoolWriterIo {
  publish(subject: string, payload: Uint8Array, options: { msgID: string; headers?: MsgHdrs }): Promise<number>;
  /** Deletes parts stored for a message that was not queued, where this writer may (else the sweep does). */
  dropLeftovers(seqs: number[]): Promise<void>;
}

/**
 * One message going into the spool as it arrives. Small messages are held (as the views they arrive in)
 * and go in one publish at commit(); once a message outgrows one NATS message, its bytes are stored in
 * chunks of CHUNK_BYTES in order while more arrive, each publish waiting for the one before, so memory
 * holds about one chunk per message. commit() stores the rest and the head; nothing is queued before it.
 */
export class SpoolWriter {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private written = 0;
  private chunks = 0;
  private readonly chunkSeqs: number[] = [];
  /** The chunk publishes, one after another; the first failure is kept and fails commit(). */
  private publishing: Promise<void> = Promise.resolve();
  private failure: unknown;
  /** Bytes of chunks handed to the publish chain and not yet acknowledged, and who waits for them to go. */
  private unstored = 0;
  private waiters: (() => void)[] = [];
  private keepAlive: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly queueId: string,
    private readonly options: SpoolWriterOptions,
    private readonly io: SpoolWriterIo,
  ) {}

  /** Octets written so far. */
  get size(): number {
    return this.written;
  }

  /** Takes the bytes as they are (a view is kept until stored: the caller must not reuse the memory). */
  write(bytes: Uint8Array): void {
    if (this.closed || bytes.length === 0) return;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    this.written += bytes.length;
    if (this.chunks === 0 && this.written <= INLINE_LIMIT) return;
    while (this.pendingBytes >= CHUNK_BYTES) this.storeChunk(CHUNK_BYTES);
    // A client that sends slowly still has a chunk stored now and then: the message stays marked live.
    this.keepAlive ??= setInterval(() => this.pendingBytes > 0 && this.storeChunk(this.pendingBytes), Math.max(1000, this.options.liveForMs / 3));
  }

  /** Stores the first `bytes` pending octets as the next chunk (after the chunks before it). */
  private storeChunk(bytes: number): void {
    const payload = this.take(bytes);
    const index = this.chunks++;
    const headers = natsHeaders();
    headers.set(LIVE_UNTIL_HEADER, String(Date.now() + this.options.liveForMs));
    this.unstored += payload.length;
    this.publishing = this.publishing.then(async () => {
      try {
        if (this.failure === undefined) this.chunkSeqs.push(await this.io.publish(spoolChunkSubject(this.queueId, index), payload, { msgID: `${this.queueId}.${index}`, headers }));
      } catch (err) {
        this.failure = err;
      } finally {
        this.unstored -= payload.length;
        if (this.unstored <= BACKLOG_BYTES || this.failure !== undefined) for (const wake of this.waiters.splice(0)) wake();
      }
    });
  }

  /**
   * While more of the message waits to be stored than a writer should hold, a promise for when it no
   * longer does: the source (a client's connection) stops reading until then, so memory holds a few
   * chunks per message however fast the client sends. Undefined when there is no need to wait.
   */
  whenCaughtUp(): Promise<void> | undefined {
    if (this.unstored <= BACKLOG_BYTES || this.failure !== undefined) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The first `bytes` pending octets, as one buffer (copied once), removed from pending. */
  private take(bytes: number): Uint8Array {
    const out = Buffer.allocUnsafe(bytes);
    let filled = 0;
    while (filled < bytes) {
      const first = this.pending[0]!;
      const used = Math.min(first.length, bytes - filled);
      out.set(first.subarray(0, used), filled);
      filled += used;
      if (used === first.length) this.pending.shift();
      else this.pending[0] = first.subarray(used);
    }
    this.pendingBytes -= bytes;
    return out;
  }

  /**
   * Makes the message — `prefix`, then everything written — durable and queued under `envelope` (whose
   * size, chunk count and chunk list it sets); resolves with the parts' sequence numbers once JetStream
   * has acknowledged every one. Rejects when it is not queued; the parts stored are then dropped.
   */
  async commit(envelope: Omit<AcceptedMessage, 'size' | 'chunks' | 'chunkSeqs'>, prefix: Uint8Array = new Uint8Array()): Promise<number[]> {
    this.stop();
    const size = prefix.length + this.written;
    const headers = natsHeaders();
    let payload: Uint8Array;
    // Only a message with no chunk stored yet can travel whole in the head; its envelope in the header is
    // counted against the limit too (written once, as the header it becomes).
    const inlineEnvelope = this.chunks === 0 ? JSON.stringify({ ...envelope, size, chunks: 0, chunkSeqs: [] }) : undefined;
    if (inlineEnvelope !== undefined && size + inlineEnvelope.length + 64 <= INLINE_LIMIT) {
      payload = this.pending.length === 0 && prefix.length === 0 ? new Uint8Array() : Buffer.concat([prefix, ...this.pending], size);
      headers.set(ENVELOPE_HEADER, inlineEnvelope);
    } else {
      while (this.pendingBytes > 0) this.storeChunk(Math.min(this.pendingBytes, CHUNK_BYTES));
      await this.publishing;
      if (this.failure !== undefined) {
        await this.io.dropLeftovers(this.chunkSeqs);
        throw this.failure;
      }
      payload = prefix;
      headers.set(ENVELOPE_HEADER, JSON.stringify({ ...envelope, size, chunks: this.chunks, chunkSeqs: this.chunkSeqs }));
    }
    this.pending = [];
    try {
      return [...this.chunkSeqs, await this.io.publish(spoolSubject(this.queueId), payload, { msgID: this.queueId, headers })];
    } catch (err) {
      await this.io.dropLeftovers(this.chunkSeqs);
      throw err;
    }
  }

  /** The message is not wanted (refused, or the client went away): the chunks stored are left over. */
  abort(): void {
    this.stop();
    this.pending = [];
    void this.publishing.then(() => this.io.dropLeftovers(this.chunkSeqs));
  }

  private stop(): void {
    this.closed = true;
    clearInterval(this.keepAlive);
  }
}
