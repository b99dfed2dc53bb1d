// NATS JetStream topology and message payloads shared by the services. The one place that names
// subjects, streams, consumers and buckets; payloads are validated with zod at every consumer.
//
//   smtp-ingress  --put-->     object store  mail-spool    (key: queue id, the message bytes)
//   smtp-ingress  --publish--> mail.accepted               (stream MAIL_ACCEPTED, consumer queue-manager)
//   queue-manager --KV-->      mail-queue                  (key: queue id, the QueueEntry; only queue-manager writes)
//   queue-manager --publish--> mail.delivery.<queue id>    (stream MAIL_DELIVERY, consumer delivery-agent)
//   delivery-agent --publish-> mail.result.<queue id>      (stream MAIL_RESULTS, consumer queue-manager-results)
//   queue-manager --publish--> mail.schedule.<queue id>    (stream MAIL_SCHEDULE, consumer queue-manager-schedule):
//                              a timer; the consumer holds it back (nak with delay) until the next attempt is due
import { z } from 'zod';

export const SPOOL_BUCKET = 'mail-spool';
export const QUEUE_BUCKET = 'mail-queue';

export const ACCEPTED_STREAM = 'MAIL_ACCEPTED';
export const ACCEPTED_SUBJECT = 'mail.accepted';
export const ACCEPTED_CONSUMER = 'queue-manager';

export const DELIVERY_STREAM = 'MAIL_DELIVERY';
export const deliverySubject = (queueId: string): string => `mail.delivery.${queueId}`;
export const DELIVERY_CONSUMER = 'delivery-agent';

export const RESULT_STREAM = 'MAIL_RESULTS';
export const resultSubject = (queueId: string): string => `mail.result.${queueId}`;
export const RESULT_CONSUMER = 'queue-manager-results';

export const SCHEDULE_STREAM = 'MAIL_SCHEDULE';
export const scheduleSubject = (queueId: string): string => `mail.schedule.${queueId}`;
export const SCHEDULE_CONSUMER = 'queue-manager-schedule';

/** Stream definitions; every service ensures the ones it touches at start-up (idempotent). */
export const STREAMS = [
  { name: ACCEPTED_STREAM, subjects: [ACCEPTED_SUBJECT] },
  { name: DELIVERY_STREAM, subjects: ['mail.delivery.>'] },
  { name: RESULT_STREAM, subjects: ['mail.result.>'] },
  { name: SCHEDULE_STREAM, subjects: ['mail.schedule.>'] },
] as const;

const address = z.string().max(512);

/** The timer message that wakes the scheduler for one queue entry. */
export const ScheduleTick = z.object({
  queueId: z.string(),
  dueAt: z.number().int(),
});
export type ScheduleTick = z.infer<typeof ScheduleTick>;

/** Published by smtp-ingress once the message bytes are in the spool: the queue entry's seed. */
export const AcceptedMessage = z.object({
  queueId: z.string().min(1),
  /** Reverse-path without angle brackets; '' is the null reverse-path. */
  sender: address,
  recipients: z.array(address).min(1),
  size: z.number().int().nonnegative(),
  receivedAt: z.number().int(),
  smtputf8: z.boolean().default(false),
  eightBitMime: z.boolean().default(false),
  clientAddress: z.string().default(''),
});
export type AcceptedMessage = z.infer<typeof AcceptedMessage>;

/** pending: to be attempted; delivered: done; failed: permanent failure or expiry (a bounce is owed or sent). */
export const DestinationState = z.enum(['pending', 'delivered', 'failed']);
export type DestinationState = z.infer<typeof DestinationState>;

/** One recipient of a queued message and where its delivery stands. */
export const Destination = z.object({
  recipient: address,
  state: DestinationState,
  attempts: z.number().int().nonnegative(),
  lastReply: z.string().default(''),
  /** When the next attempt is due (ms since epoch); 0 = now. */
  nextAttemptAt: z.number().int().default(0),
  lastAttemptAt: z.number().int().default(0),
  /** The remote host that gave `lastReply`, if any. */
  remoteMta: z.string().default(''),
  /** A failure notice for this destination has been queued (or none is due: null reverse-path). */
  bounced: z.boolean().default(false),
});
export type Destination = z.infer<typeof Destination>;

/** The queue's record of one message: kept in the mail-queue KV bucket, written only by queue-manager. */
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
});
export type QueueEntry = z.infer<typeof QueueEntry>;

/** A unit of work for delivery-agent: one message to one group of recipients. */
export const DeliveryJob = z.object({
  queueId: z.string(),
  jobId: z.string(),
  sender: address,
  recipients: z.array(address).min(1),
  smtputf8: z.boolean().default(false),
  /** The recipients' domain: the unit of routing and throttling. */
  domain: z.string().default(''),
});
export type DeliveryJob = z.infer<typeof DeliveryJob>;

export const DeliveryOutcome = z.enum(['delivered', 'temporary', 'permanent']);
export type DeliveryOutcome = z.infer<typeof DeliveryOutcome>;

export const RecipientResult = z.object({
  recipient: address,
  outcome: DeliveryOutcome,
  /** The reply that explains the outcome, SMTP style ("550 5.1.1 ..."). */
  reply: z.string().default(''),
  /** The host that gave the reply (remote deliveries). */
  remoteMta: z.string().default(''),
});
/** As produced (defaults may be left out); consumers get every field after decodePayload. */
export type RecipientResult = z.input<typeof RecipientResult>;

export const DeliveryResult = z.object({
  queueId: z.string(),
  jobId: z.string(),
  results: z.array(RecipientResult),
});
export type DeliveryResult = z.input<typeof DeliveryResult>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodePayload<T>(value: T): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Decodes and validates a payload; throws a ZodError (or SyntaxError) on a malformed one. */
export function decodePayload<S extends z.ZodType>(schema: S, data: Uint8Array): z.infer<S> {
  return schema.parse(JSON.parse(decoder.decode(data)));
}
