// The QueueAdmin gRPC service (mailctl queue ...): list, show, retry, hold, release, delete; only
// mailctl's identity may call it when GRPC_MTLS is on.
import type { Logger } from 'pino';
import type { QueueAdminServer, QueueAdminService, QueuedMessage } from '@mail/contracts';
import { grpc, RpcError, toServiceError, type CallerPolicy } from '@mail/platform';
import type { QueueCore } from './core/queue-core.js';
import type { QueueEntry } from './core/entry.js';

export const QUEUE_ADMIN_CALLERS: CallerPolicy<typeof QueueAdminService> = {
  listQueue: ['mailctl'],
  showMessage: ['mailctl'],
  readMessage: ['mailctl'],
  retry: ['mailctl'],
  hold: ['mailctl'],
  release: ['mailctl'],
  delete: ['mailctl'],
};

export function describeEntry(entry: QueueEntry): QueuedMessage {
  const pending = entry.destinations.filter((d) => d.state === 'pending');
  // Destinations without a job out: the next attempt concerns them.
  const waiting = pending.filter((d) => !d.job);
  const lastError = [...entry.destinations].filter((d) => d.state !== 'delivered' && d.lastReply).sort((a, b) => b.lastAttemptAt - a.lastAttemptAt)[0];
  return {
    queueId: entry.queueId,
    sender: entry.sender,
    size: entry.size,
    receivedAtMs: entry.receivedAt,
    held: entry.held,
    pending: pending.length,
    nextAttemptAtMs: waiting.length ? Math.min(...waiting.map((d) => d.nextAttemptAt)) : 0,
    lastError: lastError?.lastReply ?? '',
    bounceOf: entry.bounceOf,
    requireTls: entry.requireTls === true,
    destinations: entry.destinations.map((d) => ({
      recipient: d.recipient,
      state: d.state,
      attempts: d.attempts,
      lastReply: d.lastReply,
      nextAttemptAtMs: d.nextAttemptAt,
      remoteMta: d.remoteMta,
      inFlight: d.state === 'pending' && d.job !== '',
    })),
  };
}

function handler<Req, Res>(logger: Logger, run: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    run(call.request).then(
      (res) => callback(null, res),
      (err: unknown) => {
        if (!(err instanceof RpcError)) logger.error({ err }, 'queue admin call failed');
        callback(toServiceError(err), null);
      },
    );
  };
}

/** Chunks of a message streamed to mailctl: well under gRPC's 4 MB message limit. */
const MESSAGE_CHUNK_BYTES = 1024 * 1024;

const notFound = (queueId: string) => new RpcError(grpc.status.NOT_FOUND, `no message ${queueId} in the queue`);

export function createAdminService(queue: QueueCore, logger: Logger): QueueAdminServer {
  const one = async (queueId: string, action: () => Promise<number>) => {
    if (!queueId) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'a queue id is needed');
    const affected = await action();
    if (affected === 0) throw notFound(queueId);
    return { affected };
  };
  return {
    // `unplanned`: spooled mail this replica has no entry for — not yet read by the active replica, or
    // (seen from a standby) in its first attempt there, which lives in memory only.
    listQueue: handler(logger, async () => ({ messages: queue.list().map(describeEntry), unplanned: await queue.countUnknownSpooled() })),
    showMessage: handler(logger, async (req) => {
      const entry = queue.show(req.queueId);
      if (!entry) throw notFound(req.queueId);
      return describeEntry(entry);
    }),
    retry: handler(logger, async (req) => {
      if (req.all) return { affected: await queue.retry(queue.list().map((e) => e.queueId)) };
      return one(req.queueId, () => queue.retry([req.queueId]));
    }),
    hold: handler(logger, (req) => one(req.queueId, () => queue.hold(req.queueId, true))),
    release: handler(logger, (req) => one(req.queueId, () => queue.hold(req.queueId, false))),
    delete: handler(logger, (req) => one(req.queueId, () => queue.delete(req.queueId, req.bounce))),
    readMessage: (call) => {
      void (async () => {
        if (!queue.show(call.request.queueId)) throw notFound(call.request.queueId);
        const stored = await queue.readMessage(call.request.queueId);
        if (!stored) throw new RpcError(grpc.status.NOT_FOUND, `the spool no longer holds the message ${call.request.queueId}`);
        const message = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
        for (let offset = 0; offset < message.length && !call.cancelled; offset += MESSAGE_CHUNK_BYTES) {
          if (!call.write({ data: message.subarray(offset, offset + MESSAGE_CHUNK_BYTES) })) await new Promise((resolve) => call.once('drain', resolve));
        }
        call.end();
      })().catch((err: unknown) => {
        if (!(err instanceof RpcError)) logger.error({ err }, 'queue admin call failed');
        call.destroy(Object.assign(new Error('read failed'), toServiceError(err)));
      });
    },
  };
}
