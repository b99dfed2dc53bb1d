// Delivery status notifications (RFC 3464) to a message's reverse-path, built with libs/mime and
// queued like any other message. Never for the null reverse-path <>, and always sent from <>
// (RFC 5321 §4.5.5), so a bounce can never bounce. What the sender asked for with the DSN parameters
// (RFC 3461) shapes them: which recipients get which notice is decided in core/decisions.ts (NOTIFY);
// here RET decides what a failure report returns, ENVID and ORCPT are named in it. A notice about a
// message sent with REQUIRETLS is sent with REQUIRETLS and returns its header section at most (RFC 8689
// §5); if it cannot go that way, a copy without the header section goes without it (redactedNotice).
import { createHash } from 'node:crypto';
import { buildDsn, withoutReturnedContent, type DsnRecipient } from '@mail/mime';
import type { Destination, QueueEntry } from './core/entry.js';

export interface Notice {
  /** Deterministic queue id: repeating the same notice after a crash finds the one already queued. */
  queueId: string;
  recipient: string;
  message: Uint8Array;
  /** Sent with REQUIRETLS: the message it reports on was (RFC 8689 §5). */
  requireTls: boolean;
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

/** RET=FULL returns the whole message up to this size; a larger one only its header section (as Postfix's bounce_size_limit does). */
export const FULL_RETURN_LIMIT = 1024 * 1024;

/** ORCPT as the queue keeps it, `addr-type;address` (libs/contracts): the type is an atom, so the first ";" splits. */
function splitOriginalRecipient(orcpt: string): { type: string; address: string } {
  const semicolon = orcpt.indexOf(';');
  return semicolon < 0 ? { type: 'rfc822', address: orcpt } : { type: orcpt.slice(0, semicolon), address: orcpt.slice(semicolon + 1) };
}

export type NoticeAction = 'failed' | 'delayed' | 'delivered' | 'relayed';

const FALLBACK_STATUS: Record<NoticeAction, string> = { failed: '5.0.0', delayed: '4.0.0', delivered: '2.0.0', relayed: '2.0.0' };
const SUBJECTS: Record<NoticeAction, string> = {
  failed: 'Undelivered Mail Returned to Sender',
  delayed: 'Delayed Mail (still being retried)',
  delivered: 'Successful Mail Delivery Report',
  relayed: 'Successful Mail Delivery Report (relayed)',
};

export function buildNotice(options: {
  entry: QueueEntry;
  destinations: Destination[];
  action: NoticeAction;
  reportingMta: string;
  originalMessage: Uint8Array;
  willRetryUntil?: Date;
  now: Date;
}): Notice | undefined {
  const { entry } = options;
  if (entry.sender === '' || options.destinations.length === 0) return undefined;
  const recipients: DsnRecipient[] = options.destinations.map((d) => {
    const orcpt = d.orcpt === undefined ? undefined : splitOriginalRecipient(d.orcpt);
    // A success status needs a 2.x.x code: a reply of ours without one ("250 delivered as ...") gets 2.0.0.
    const status = statusOf(d.lastReply, FALLBACK_STATUS[options.action]);
    return {
      finalRecipient: d.recipient,
      ...(orcpt ? { originalRecipient: orcpt.address, originalRecipientType: orcpt.type } : {}),
      action: options.action,
      status: options.action === 'delivered' || options.action === 'relayed' ? (status.startsWith('2.') ? status : '2.0.0') : status,
      remoteMta: d.remoteMta || undefined,
      diagnosticCode: d.lastReply || undefined,
      lastAttemptDate: d.lastAttemptAt ? new Date(d.lastAttemptAt) : undefined,
      willRetryUntil: options.action === 'delayed' ? options.willRetryUntil : undefined,
    };
  });
  // RET (RFC 3461 §4.3) applies to failure reports only; the others, and a message too large to send
  // back whole, return the header section, as without RET. RFC 8689 §5: RET=FULL is disregarded for a
  // REQUIRETLS message.
  const returned = options.action === 'failed' && entry.ret === 'FULL' && !entry.requireTls && options.originalMessage.length <= FULL_RETURN_LIMIT ? 'message' : 'headers';
  const message = buildDsn({
    reportingMta: options.reportingMta,
    // The sender's ENVID; without one, our queue id, which the sender got in the reply to DATA (RFC 3464 §2.2.1).
    originalEnvelopeId: entry.envid ?? entry.queueId,
    arrivalDate: new Date(entry.receivedAt),
    recipients,
    originalHeaders: options.originalMessage,
    returned,
    from: { name: 'Mail Delivery System', address: `MAILER-DAEMON@${options.reportingMta}` },
    to: entry.sender,
    subject: SUBJECTS[options.action],
    date: options.now,
  });
  const seed = `${entry.queueId}|${options.action}|${options.destinations.map((d) => d.recipient).sort().join(',')}`;
  return { queueId: derivedQueueId(seed), recipient: entry.sender, message, requireTls: entry.requireTls === true };
}

/** The reply of a hop that could not take a message as REQUIRETLS asks (RFC 8689 §4: X.7.30), also as the last error of an expired one. */
export const refusedForRequireTls = (reply: string): boolean => /\b[45]\.7\.30\b/.test(reply);

const REDACTION_NOTE =
  'Your message was sent with REQUIRETLS, but this notice could not be delivered to you that way, so it comes ' +
  'without REQUIRETLS and without the header section of your message (RFC 8689 section 5).';

/**
 * RFC 8689 §5: a notice of ours about a REQUIRETLS message that a hop on its way back refused for want of
 * REQUIRETLS is not dropped (it is from <>, nothing would report its loss): the same notice goes again,
 * without REQUIRETLS and redacted, without the original's header section. Undefined if the notice's
 * bytes are not a report of ours.
 */
export function redactedNotice(notice: QueueEntry, recipient: string, noticeMessage: Uint8Array, now: Date): Notice | undefined {
  const message = withoutReturnedContent(noticeMessage, REDACTION_NOTE, now);
  return message && { queueId: derivedQueueId(`${notice.queueId}|redacted|${recipient}`), recipient, message, requireTls: false };
}
