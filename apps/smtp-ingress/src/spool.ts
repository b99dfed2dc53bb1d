// Makes an accepted message durable: its bytes go to the JetStream object store, then the "accepted"
// event that seeds the queue entry is published with the queue id as message id (the server drops a
// repeat). Only when both are acknowledged does the session answer 250.
import { randomBytes } from 'node:crypto';
import type { ObjectStore } from '@nats-io/obj';
import { ACCEPTED_SUBJECT, encodePayload, type AcceptedMessage } from '@mail/contracts';
import type { NatsContext } from '@mail/platform';
import type { Envelope } from './protocol/session.js';

export class Spool {
  constructor(
    private readonly nats: NatsContext,
    private readonly bucket: ObjectStore,
    private readonly timeoutMs: number,
  ) {}

  async enqueue(queueId: string, envelope: Envelope, message: Buffer, clientAddress: string): Promise<void> {
    await this.bucket.putBlob({ name: queueId }, message, { timeout: this.timeoutMs });
    const accepted: AcceptedMessage = {
      queueId,
      sender: envelope.sender,
      recipients: envelope.recipients,
      localRecipients: envelope.localRecipients,
      size: message.length,
      receivedAt: Date.now(),
      smtputf8: envelope.smtputf8,
      eightBitMime: envelope.eightBitMime,
      clientAddress,
    };
    try {
      await this.nats.js.publish(ACCEPTED_SUBJECT, encodePayload(accepted), { msgID: queueId, timeout: this.timeoutMs });
    } catch (err) {
      // Not queued: the client will be told 451 and retry, so the spooled bytes are garbage.
      await this.bucket.delete(queueId).catch(() => undefined);
      throw err;
    }
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
