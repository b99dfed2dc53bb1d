// Makes an accepted message durable: one publish to the spool (libs/platform spool.ts) carries the
// bytes and the envelope that seeds its queue entry, with the queue id as message id (the server drops
// a repeat). Only when JetStream has acknowledged it does the session answer 250.
import { randomBytes } from 'node:crypto';
import type { Spool as SpoolStream } from '@mail/platform';
import type { Envelope } from './protocol/session.js';

export class Spool {
  constructor(private readonly spool: SpoolStream) {}

  async enqueue(queueId: string, envelope: Envelope, message: Buffer, clientAddress: string): Promise<void> {
    await this.spool.put(
      {
        queueId,
        sender: envelope.sender,
        recipients: envelope.recipients,
        localRecipients: envelope.localRecipients,
        size: message.length,
        receivedAt: Date.now(),
        smtputf8: envelope.smtputf8,
        eightBitMime: envelope.eightBitMime,
        clientAddress,
        submittedBy: envelope.submittedBy ?? '',
        chunks: 0,
        chunkSeqs: [],
        bounceOf: '',
        ...(envelope.ret ? { ret: envelope.ret } : {}),
        ...(envelope.envid !== undefined ? { envid: envelope.envid } : {}),
        ...(envelope.recipientDsn.length > 0 ? { recipientDsn: envelope.recipientDsn } : {}),
      },
      message,
    );
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
  for (const byte of randomBytes(10)) random += alphabet[byte % 32];
  return time + random;
}
