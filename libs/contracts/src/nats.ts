// NATS JetStream topology and message payloads shared by the services. The one place that names
// subjects, streams, consumers and buckets; payloads are validated with zod at every consumer.
//
//   smtp-ingress  --put-->     object store  mail-spool      (key: queue id, the message bytes)
//   smtp-ingress  --publish--> mail.accepted                 (stream MAIL_ACCEPTED, consumer queue-manager)
//   queue-manager --KV-->      mail-queue                    (key: queue id, its queue entry; only queue-manager reads and writes it)
//   queue-manager --publish--> mail.job.local.<queue id>     (stream MAIL_LOCAL_JOBS, consumer delivery-agent-local)
//   queue-manager --publish--> mail.job.remote.<queue id>    (stream MAIL_REMOTE_JOBS, consumer delivery-agent-remote)
//   delivery-agent --publish-> mail.result.<queue id>        (stream MAIL_RESULTS, consumer queue-manager-results)
//
// queue-manager owns time and admission: it publishes a job only when the job's destination has room,
// and keeps every wait (retry back-off, rate windows) in its own due-time index, never in a consumer.
// Local and remote jobs are separate streams with separate consumers, so neither waits for the other.
import { z } from 'zod';

export const SPOOL_BUCKET = 'mail-spool';
export const QUEUE_BUCKET = 'mail-queue';

export const ACCEPTED_STREAM = 'MAIL_ACCEPTED';
export const ACCEPTED_SUBJECT = 'mail.accepted';
export const ACCEPTED_CONSUMER = 'queue-manager';

/** Where a job is delivered: mailbox-store (local) or another SMTP server (remote). */
export type DeliveryLane = 'local' | 'remote';
export const JOB_STREAMS: Record<DeliveryLane, string> = { local: 'MAIL_LOCAL_JOBS', remote: 'MAIL_REMOTE_JOBS' };
export const jobSubject = (lane: DeliveryLane, queueId: string): string => `mail.job.${lane}.${queueId}`;
export const JOB_CONSUMERS: Record<DeliveryLane, string> = { local: 'delivery-agent-local', remote: 'delivery-agent-remote' };

export const RESULT_STREAM = 'MAIL_RESULTS';
export const resultSubject = (queueId: string): string => `mail.result.${queueId}`;
export const RESULT_CONSUMER = 'queue-manager-results';

/** Stream definitions; every service ensures the ones it touches at start-up (idempotent). */
export const STREAMS = [
  { name: ACCEPTED_STREAM, subjects: [ACCEPTED_SUBJECT] },
  { name: JOB_STREAMS.local, subjects: ['mail.job.local.>'] },
  { name: JOB_STREAMS.remote, subjects: ['mail.job.remote.>'] },
  { name: RESULT_STREAM, subjects: ['mail.result.>'] },
] as const;

const address = z.string().max(512);

/** Published by smtp-ingress once the message bytes are in the spool: the queue entry's seed. */
export const AcceptedMessage = z.object({
  queueId: z.string().min(1),
  /** Reverse-path without angle brackets; '' is the null reverse-path. */
  sender: address,
  recipients: z.array(address).min(1),
  /** The recipients mailbox-store keeps mail for (smtp-ingress learnt it at RCPT): the local lane. */
  localRecipients: z.array(address).default([]),
  size: z.number().int().nonnegative(),
  receivedAt: z.number().int(),
  smtputf8: z.boolean().default(false),
  eightBitMime: z.boolean().default(false),
  clientAddress: z.string().default(''),
});
export type AcceptedMessage = z.infer<typeof AcceptedMessage>;

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
  /**
   * The message's bytes were not in the spool: the job is stale (its message already left the queue)
   * or the spool lost it. queue-manager checks which; `results` is empty then.
   */
  spoolMissing: z.boolean().default(false),
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
