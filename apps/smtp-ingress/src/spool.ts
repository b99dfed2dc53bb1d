// Makes an accepted message durable as it arrives: its bytes go to the spool (libs/platform spool.ts)
// while the client sends them — a large message in chunks before its end — and one last publish, the
// head, carries the envelope that seeds its queue entry and the trace headers, with the queue id as
// message id (the server drops a repeat). Only when JetStream has acknowledged it does the session
// answer 250.
import { randomFillSync } from 'node:crypto';
import type { Spool as SpoolStream } from '@mail/platform';
import type { Envelope, MessageSink } from './protocol/session.js';

export class Spool {
  /**
   * `liveForMs`: how long a message may go without a stored part while its client is still connected
   * (the connection's idle limits, with a margin); the spool's sweep leaves its parts alone that long.
   */
  constructor(
    private readonly spool: SpoolStream,
    private readonly liveForMs: number,
    /** Told of each message queued, with its size and the listener it came in on. */
    private readonly onQueued: (queueId: string, envelope: Envelope, size: number, clientAddress: string, listener: string) => void = () => undefined,
  ) {}

  /** The message of a transaction that came in on `listener`, spooled as it arrives. */
  open(queueId: string, listener: string): MessageSink {
    const writer = this.spool.writer(queueId, { liveForMs: this.liveForMs });
    return {
      write: (piece) => writer.write(piece),
      commit: async (prefix, envelope, clientAddress) => {
        await writer.commit(
          {
            queueId,
            sender: envelope.sender,
            recipients: envelope.recipients,
            localRecipients: envelope.localRecipients,
            receivedAt: Date.now(),
            smtputf8: envelope.smtputf8,
            eightBitMime: envelope.eightBitMime,
            binaryMime: envelope.binaryMime,
            requireTls: envelope.requireTls ?? false,
            clientAddress,
            submittedBy: envelope.submittedBy ?? '',
            bounceOf: '',
            ...(envelope.ret ? { ret: envelope.ret } : {}),
            ...(envelope.envid !== undefined ? { envid: envelope.envid } : {}),
            ...(envelope.recipientDsn.length > 0 ? { recipientDsn: envelope.recipientDsn } : {}),
          },
          prefix,
        );
        this.onQueued(queueId, envelope, prefix.length + writer.size, clientAddress, listener);
      },
      abort: () => writer.abort(),
      whenCaughtUp: () => writer.whenCaughtUp(),
    };
  }
}

/**
 * Queue ids sort by time and are unique across replicas: 10 base-32 characters of milliseconds and
 * 10 of randomness (a NATS subject token and KV key, so only [0-9A-Z]).
 */
export function newQueueId(now = Date.now()): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let time = '';
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = alphabet[t % 32] + time;
  let random = '';
  for (const byte of randomOctets(10)) random += alphabet[byte % 32];
  return time + random;
}

/**
 * Random octets taken from a pool refilled 4 KB at a time: one call into the CSPRNG per 400 queue ids
 * instead of one per id (each call costs far more than the 10 octets it returns).
 */
const randomPool = Buffer.alloc(4096);
let randomPoolUsed = randomPool.length;
function randomOctets(count: number): Buffer {
  if (randomPoolUsed + count > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolUsed = 0;
  }
  randomPoolUsed += count;
  return randomPool.subarray(randomPoolUsed - count, randomPoolUsed);
}
