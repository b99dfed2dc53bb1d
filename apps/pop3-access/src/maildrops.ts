// Maildrop access through mailbox-store's gRPC API: authentication (mailbox-store keeps the failed-login
// throttle for every edge; the growing delay is applied here), the lease (lock) with its heartbeat,
// reads (small messages read ahead in batches, large ones streamed), and the UPDATE-state deletions.
import { setTimeout as sleep } from 'node:timers/promises';
import { MailboxStoreClient, type Chunk } from '@mail/contracts';
import { channelReady, deadline, grpc, isGrpcStatus, unary } from '@mail/platform';
import type { Pop3Events } from './events.js';
import { ReadAhead, type ReadAheadLimits } from './read-ahead.js';
import type { Maildrop, Pop3AuthOutcome, Pop3Hooks } from './protocol/session.js';

/**
 * The HTTP/2 flow-control window of the read-ahead channel, so that a FetchMessages answer (about 3 MiB
 * at most) crosses in one go: with gRPC's default of 64 KiB a 1 MiB answer waited on sixteen window
 * updates from a busy mailbox-store (44 ms at the median with 4 sessions; BENCHMARKS.md). Only this
 * channel: a message streamed to a slow POP3 reader is held here up to about the window, so the streams
 * keep the default (about 2 MB held per stream measured, against 8 MB with an 8 MiB window).
 */
const READ_AHEAD_WINDOW_BYTES = 4 * 1024 * 1024;

/**
 * A QUIT's deletions, one backend deadline per this many on top of the call's own. The store removes
 * them in one call, at its own pace: FerretDB took over 15 s for 178 while deliveries wrote beside it
 * (cluster-failover, CI). A passed deadline does not stop the store, which goes on removing them and
 * releases the lease, so giving up early only turns a removal that happens into an -ERR the client
 * cannot trust.
 */
const DELETIONS_PER_DEADLINE = 100;

/** How long a QUIT waits for mailbox-store to remove `deletions` messages. */
export const updateDeadlineMs = (timeoutMs: number, deletions: number): number => timeoutMs * (1 + Math.ceil(deletions / DELETIONS_PER_DEADLINE));

/** pop3-access's session hooks as a client of mailbox-store (an adapter, not a service of its own). */
export class MailboxStoreMaildrops implements Pop3Hooks {
  private readonly client: MailboxStoreClient;
  /** FetchMessages only (read-ahead), on a channel of its own with a wide window. */
  private readonly readAheadClient: MailboxStoreClient;

  constructor(
    address: string,
    grpcTls: { credentials: grpc.ChannelCredentials; options: grpc.ClientOptions },
    private readonly leaseSeconds: number,
    private readonly timeoutMs: number,
    private readonly events: Pop3Events,
    private readonly readAhead: ReadAheadLimits,
  ) {
    this.client = new MailboxStoreClient(address, grpcTls.credentials, grpcTls.options);
    this.readAheadClient = new MailboxStoreClient(address, grpcTls.credentials, { ...grpcTls.options, 'grpc-node.flow_control_window': READ_AHEAD_WINDOW_BYTES });
  }

  async authenticate(user: string, password: string, clientAddress: string): Promise<Pop3AuthOutcome> {
    const request = { address: user, password, clientAddress, service: 'pop3-access' };
    const reply = await unary(this.client.authenticate.bind(this.client), request, this.timeoutMs);
    if (reply.ok) {
      this.events.emit({ event: 'login', user, client: clientAddress, result: 'success' });
      return { ok: true, mailbox: reply.mailbox };
    }
    if (reply.locked) {
      this.events.emit({ event: 'login', user, client: clientAddress, result: 'locked' });
      return { ok: false, locked: true, retryAfterMs: reply.retryAfterMs };
    }
    this.events.emit({ event: 'login', user, client: clientAddress, result: 'failure' });
    // The growing delay slows a password guesser down; the answer itself stays the same.
    await sleep(reply.delayMs);
    return { ok: false };
  }

  async openMaildrop(mailbox: string): Promise<Maildrop | 'locked'> {
    let opened;
    try {
      opened = await unary(this.client.openMaildrop.bind(this.client), { mailbox, leaseSeconds: this.leaseSeconds }, this.timeoutMs);
    } catch (err) {
      if (isGrpcStatus(err, grpc.status.FAILED_PRECONDITION)) return 'locked';
      throw err;
    }
    const leaseId = opened.leaseId;
    const heartbeat = setInterval(() => {
      unary(this.client.renewMaildrop.bind(this.client), { mailbox, leaseId }, this.timeoutMs).catch((err: unknown) =>
        this.events.emit({ event: 'lease-renewal-failed', mailbox, error: (err as Error).message }),
      );
    }, (this.leaseSeconds * 1000) / 3);
    heartbeat.unref();
    const client = this.client;
    const readAheadClient = this.readAheadClient;
    const timeoutMs = this.timeoutMs;
    const events = this.events;
    const messages = opened.messages.map((m) => ({ uidl: m.uidl, size: m.size }));
    const readAhead = new ReadAhead(messages, this.readAhead, async (uidls) => {
      const reply = await unary(readAheadClient.fetchMessages.bind(readAheadClient), { mailbox, leaseId, uidls }, timeoutMs);
      return reply.messages;
    });
    async function* stream(uidl: string): AsyncIterable<Uint8Array> {
      const call = client.fetchMessage({ mailbox, leaseId, uidl }, { deadline: deadline(timeoutMs * 20) });
      try {
        for await (const chunk of call as AsyncIterable<Chunk>) yield chunk.data;
      } finally {
        call.cancel(); // a TOP that stops early must not leave the stream running
      }
    }
    return {
      messages,
      async *read(uidl: string, part: 'whole' | 'top' = 'whole') {
        events.emit({ event: 'message-read', mailbox, uidl });
        const whole = await (part === 'whole' ? readAhead.take(uidl) : readAhead.peek(uidl));
        if (whole) yield whole;
        else yield* stream(uidl);
      },
      close: async (deleteUidls: string[]) => {
        clearInterval(heartbeat);
        try {
          await unary(client.closeMaildrop.bind(client), { mailbox, leaseId, deleteUidls }, updateDeadlineMs(timeoutMs, deleteUidls.length));
        } catch (err) {
          events.emit({ event: 'update-failed', mailbox, deletions: deleteUidls.length, error: (err as Error).message });
          throw err;
        }
      },
    };
  }

  /** mailbox-store is reachable (for /readyz). */
  ready(): boolean {
    return channelReady(this.client);
  }

  close(): void {
    this.client.close();
    this.readAheadClient.close();
  }
}
