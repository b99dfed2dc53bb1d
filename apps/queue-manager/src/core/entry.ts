// The queue's record of one message, as queue-manager keeps it in the mail-queue KV bucket. Only
// queue-manager reads or writes it (mailctl sees it through the admin gRPC API), so it lives here.
import { DsnEnvelopeId, DsnNotify, DsnReturn, type RecipientDsn } from '@mail/contracts';
import { z } from 'zod';

const address = z.string().max(512);

/** Where a destination is delivered: mailbox-store (local) or another server (remote). */
export type Lane = 'local' | 'remote';

/** pending: to be attempted; delivered: done; failed: permanent failure or expiry (a bounce is owed or sent). */
export const DestinationState = z.enum(['pending', 'delivered', 'failed']);
export type DestinationState = z.infer<typeof DestinationState>;

/**
 * Entries written before the notice flag was named for what it means carry it as `bounced` (it also
 * marked success notices taken); read as `reported`.
 */
const withLegacyNoticeFlag = (raw: unknown): unknown =>
  raw !== null && typeof raw === 'object' && 'bounced' in raw && !('reported' in raw) ? { ...raw, reported: (raw as { bounced: unknown }).bounced } : raw;

/** One recipient of a queued message and where its delivery stands. */
const DestinationFields = z.object({
  recipient: address,
  state: DestinationState,
  attempts: z.number().int().nonnegative(),
  lastReply: z.string().default(''),
  /** When the next attempt is due (ms since epoch); 0 = now. */
  nextAttemptAt: z.number().int().default(0),
  lastAttemptAt: z.number().int().default(0),
  /** The remote host that gave `lastReply`, if any. */
  remoteMta: z.string().default(''),
  /**
   * The notice of this destination's outcome has been queued, or none is owed: a failure notice (none
   * for the null reverse-path or NOTIFY without FAILURE), or the success notice NOTIFY=SUCCESS asks for.
   */
  reported: z.boolean().default(false),
  /** Delivered by mailbox-store (decided once, by smtp-ingress at RCPT). */
  local: z.boolean().default(false),
  /** The delivery job in flight for this destination ('' = none): its result is awaited. */
  job: z.string().default(''),
  /** When that job was handed to delivery-agent. */
  dispatchedAt: z.number().int().default(0),
  /** NOTIFY given at RCPT (RFC 3461 §4.1); absent: our default, FAILURE and DELAY. */
  notify: DsnNotify.optional(),
  /** ORCPT given at RCPT, as `addr-type;address` (decoded): the report's Original-Recipient. */
  orcpt: z.string().optional(),
  /** Once delivered: into a mailbox here, or relayed to a next hop that took the DSN request or did not. */
  handoff: z.enum(['mailbox', 'relayed-with-dsn', 'relayed-without-dsn']).optional(),
});
export const Destination = z.preprocess(withLegacyNoticeFlag, DestinationFields);
export type Destination = z.infer<typeof DestinationFields>;

export const QueueEntry = z.object({
  queueId: z.string(),
  sender: address,
  size: z.number().int().nonnegative(),
  receivedAt: z.number().int(),
  smtputf8: z.boolean(),
  destinations: z.array(Destination),
  /** Held by an operator: no delivery attempts until released. */
  held: z.boolean().default(false),
  /** A delay warning has been sent to the reverse-path. */
  delayWarned: z.boolean().default(false),
  /** The queue id of the message this one reports on, for bounces; '' otherwise. */
  bounceOf: z.string().default(''),
  /** Sequence numbers of the message's parts in the spool stream (chunks, then head): what removal deletes. */
  spoolSeqs: z.array(z.number().int().nonnegative()).default([]),
  /** Jobs handed out so far: the next job id is `<queueId>.<dispatches>`, so a replay repeats the id. */
  dispatches: z.number().int().nonnegative().default(0),
  /** RET and ENVID given at MAIL (RFC 3461): what a failure report returns, and its Original-Envelope-Id. */
  ret: DsnReturn.optional(),
  envid: DsnEnvelopeId.optional(),
  /** Sent with REQUIRETLS (RFC 8689): its notices are too, and return no more than its header section (§5). */
  requireTls: z.boolean().optional(),
});
export type QueueEntry = z.infer<typeof QueueEntry>;

export const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

export const pendingOf = (entry: QueueEntry): Destination[] => entry.destinations.filter((d) => d.state === 'pending');

export const laneOf = (destination: Destination): Lane => (destination.local ? 'local' : 'remote');

export interface NewEntry {
  queueId: string;
  sender: string;
  recipients: string[];
  /** The recipients mailbox-store keeps mail for. */
  localRecipients: ReadonlySet<string>;
  size: number;
  receivedAt: number;
  smtputf8: boolean;
  bounceOf?: string;
  spoolSeqs?: number[];
  ret?: DsnReturn;
  envid?: string;
  /** NOTIFY and ORCPT of the recipients that gave them. */
  recipientDsn?: RecipientDsn[];
  requireTls?: boolean;
}

export function newEntry(seed: NewEntry): QueueEntry {
  const dsn = new Map((seed.recipientDsn ?? []).map((r) => [r.recipient, r]));
  return {
    queueId: seed.queueId,
    sender: seed.sender,
    size: seed.size,
    receivedAt: seed.receivedAt,
    smtputf8: seed.smtputf8,
    held: false,
    delayWarned: false,
    bounceOf: seed.bounceOf ?? '',
    spoolSeqs: seed.spoolSeqs ?? [],
    dispatches: 0,
    ...(seed.ret ? { ret: seed.ret } : {}),
    ...(seed.envid !== undefined ? { envid: seed.envid } : {}),
    ...(seed.requireTls ? { requireTls: true } : {}),
    destinations: seed.recipients.map((recipient) => ({
      recipient,
      state: 'pending',
      attempts: 0,
      lastReply: '',
      nextAttemptAt: 0,
      lastAttemptAt: 0,
      remoteMta: '',
      reported: false,
      local: seed.localRecipients.has(recipient),
      job: '',
      dispatchedAt: 0,
      ...(dsn.get(recipient)?.notify ? { notify: dsn.get(recipient)!.notify } : {}),
      ...(dsn.get(recipient)?.orcpt !== undefined ? { orcpt: dsn.get(recipient)!.orcpt } : {}),
    })),
  };
}
