// Delivery status notifications (RFC 3464) to a message's reverse-path, built with libs/mime and
// queued like any other message. Never for the null reverse-path <>, and always sent from <>
// (RFC 5321 §4.5.5), so a bounce can never bounce.
import { createHash } from 'node:crypto';
import { buildDsn, type DsnRecipient } from '@mail/mime';
import type { Destination, QueueEntry } from './core/entry.js';

export interface Notice {
  /** Deterministic queue id: repeating the same notice after a crash finds the one already queued. */
  queueId: string;
  recipient: string;
  message: Uint8Array;
}

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A queue id derived from `seed`, shaped like the ingress's ids (20 characters of [0-9A-Z]). */
export function derivedQueueId(seed: string): string {
  const digest = createHash('sha256').update(seed).digest();
  let id = '';
  for (let i = 0; i < 20; i++) id += ALPHABET[digest[i]! % 32];
  return id;
}

const statusOf = (reply: string, fallback: string) => /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(reply)?.[1] ?? fallback;

export function buildNotice(options: {
  entry: QueueEntry;
  destinations: Destination[];
  action: 'failed' | 'delayed';
  reportingMta: string;
  originalMessage: Uint8Array;
  willRetryUntil?: Date;
  now: Date;
}): Notice | undefined {
  const { entry } = options;
  if (entry.sender === '' || options.destinations.length === 0) return undefined;
  const recipients: DsnRecipient[] = options.destinations.map((d) => ({
    finalRecipient: d.recipient,
    action: options.action,
    status: statusOf(d.lastReply, options.action === 'failed' ? '5.0.0' : '4.0.0'),
    remoteMta: d.remoteMta || undefined,
    diagnosticCode: d.lastReply || undefined,
    lastAttemptDate: d.lastAttemptAt ? new Date(d.lastAttemptAt) : undefined,
    willRetryUntil: options.action === 'delayed' ? options.willRetryUntil : undefined,
  }));
  const message = buildDsn({
    reportingMta: options.reportingMta,
    originalEnvelopeId: entry.queueId,
    arrivalDate: new Date(entry.receivedAt),
    recipients,
    originalHeaders: options.originalMessage,
    from: { name: 'Mail Delivery System', address: `MAILER-DAEMON@${options.reportingMta}` },
    to: entry.sender,
    subject: options.action === 'failed' ? 'Undelivered Mail Returned to Sender' : 'Delayed Mail (still being retried)',
    date: options.now,
  });
  const seed = `${entry.queueId}|${options.action}|${options.destinations.map((d) => d.recipient).sort().join(',')}`;
  return { queueId: derivedQueueId(seed), recipient: entry.sender, message };
}
