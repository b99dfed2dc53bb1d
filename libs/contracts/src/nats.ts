// NATS JetStream topology and message payloads shared by the services. The one place that names
// subjects, streams, consumers and KV buckets; payloads are validated with zod at every consumer.
//
//   smtp-ingress  --publish--> mail.spool.<queue id>         (stream MAIL_SPOOL: the bytes, the envelope in a header;
//                              [mail.spool.<queue id>.<n>]   chunks of a large message first; consumer queue-manager-spool
//                                                            reads the heads, headers only; purged when the message leaves)
//   queue-manager --KV-->      mail-queue                    (key: queue id, its queue entry; only queue-manager reads and writes it)
//   queue-manager --KV-->      queue-leader                  (the active replica's lease; entries expire after QUEUE_LEADER_LEASE)
//   delivery-agent --KV-->     delivery-backoff              (key: a failing domain, shared by the delivery-agents; TTL = the back-off)
//   delivery-agent --KV-->     mta-sts-policies              (key: a recipient domain, its cached MTA-STS policy and the TXT id it came with)
//   delivery-agent --KV-->     tls-reports                   (key: <day>.<policy domain>, the TLS-RPT session counts of that day; TTL a few days)
//   queue-manager --request--> mail.job.local.deliver        (core NATS, queue group mailbox-store: the local lane;
//   mailbox-store --reply-->   mail.job.local.result.<queue-manager>.<n>   the reply carries the jobs' results)
//   queue-manager --publish--> mail.job.remote.<queue id>    (stream MAIL_REMOTE_JOBS, consumer delivery-agent-remote)
//   delivery-agent --publish-> mail.result.<queue id>        (stream MAIL_RESULTS, consumer queue-manager-results)
//
// Jobs and results travel in batches: one broker message carries the jobs (or results) of one moment,
// named by the queue id of its first item. Under load that is one publish, one delivery and one ack for
// many messages instead of one each; alone, a batch of one leaves at once.
//
// queue-manager owns time and admission: it sends a job only when the job's destination has room, and
// keeps every wait (retry back-off, rate windows) in its own due-time index, never in a consumer. The
// lanes are apart, so neither waits for the other.
//
// Why the local lane is a request and not a stream: the durable record of a message is already its
// spool head (first attempt) or its queue entry (later ones), and queue-manager takes a job without a
// result within QUEUE_LOCAL_JOB_TIMEOUT as lost and sends it again, so a job stored in a stream was a
// second copy of what is kept anyway; and a local delivery takes milliseconds, so waiting in a stream
// bought nothing. A request and its reply cost the broker two messages and no stored write, where the
// job and result streams cost a publish, its ack, a delivery and an ack for each, and two stored
// writes. Remote jobs stay in a stream: a delivery-agent may work
// on one for many minutes, and the stream's consumer is what KEDA scales delivery-agent on.
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const QUEUE_BUCKET = 'mail-queue';
/** queue-manager's leader lease: one key, expiring after the lease time unless renewed. */
export const LEADER_BUCKET = 'queue-leader';
/** delivery-agent's shared back-off of failing destinations (DELIVERY_SHARED_LIMITS): a key per domain, TTL = the back-off. */
export const DELIVERY_BACKOFF_BUCKET = 'delivery-backoff';
/**
 * delivery-agent's ledger of remote deliveries: a key per queue id and recipient, claimed during an
 * attempt and kept once a remote server answered for good, so that a message handed out again (a
 * queue-manager's takeover, a batch of jobs redelivered) reaches nobody twice. TTL: DELIVERY_LEDGER_KEEP.
 */
export const DELIVERY_LEDGER_BUCKET = 'delivery-ledger';
/** delivery-agent's MTA-STS policy cache (RFC 8461 §5.1), shared by the replicas and kept over restarts: a key per recipient domain. */
export const MTA_STS_BUCKET = 'mta-sts-policies';
/** delivery-agent's TLS-RPT data (RFC 8460): a key per day and policy domain, the sessions counted by every replica. */
export const TLS_REPORT_BUCKET = 'tls-reports';

export const SPOOL_STREAM = 'MAIL_SPOOL';
/** The head of a spooled message: the bytes (or nothing, when chunked) and the envelope header. */
export const spoolSubject = (queueId: string): string => `mail.spool.${queueId}`;
export const spoolChunkSubject = (queueId: string, n: number): string => `mail.spool.${queueId}.${n}`;
/** queue-manager's consumer of the heads: an unacknowledged head is a message accepted but not yet planned. */
export const ACCEPTED_CONSUMER = 'queue-manager-spool';
export const ACCEPTED_FILTER = 'mail.spool.*';

/** Where a job is delivered: into mailbox-store, which takes these jobs itself (local), or to another SMTP server by delivery-agent (remote). */
export type DeliveryLane = 'local' | 'remote';
/** The remote lane's work queue, its subjects, and the delivery-agents' durable consumer of it. */
export const REMOTE_JOB_STREAM = 'MAIL_REMOTE_JOBS';
export const remoteJobSubject = (queueId: string): string => `mail.job.remote.${queueId}`;
export const REMOTE_JOB_CONSUMER = 'delivery-agent-remote';
/**
 * The local lane: a batch of jobs is a request to this subject, taken by one mailbox-store of the queue
 * group, whose reply is the batch's results ({ results }).
 */
export const LOCAL_JOB_SUBJECT = 'mail.job.local.deliver';
export const LOCAL_JOB_QUEUE_GROUP = 'mailbox-store';
/**
 * Where the answers go: a subject per queue-manager process under this prefix, not the process's inbox.
 * An answer to an inbox would need nats-server's allow_responses, which the server that delivered the
 * request keeps for that one connection: a mailbox-store that reconnected to another node (a node died)
 * would be refused its answers. mailbox-store may publish here and nowhere near queue-manager's inbox.
 */
export const LOCAL_RESULT_PREFIX = 'mail.job.local.result';
/**
 * A local request's header: the milliseconds its sender waits for the answer. A job not begun by then is
 * left undone (the sender has taken it as lost and sends it again), so a slow store does not work
 * through jobs that nobody waits for any more.
 */
export const LOCAL_JOB_WAIT_HEADER = 'Mail-Answer-Within-Ms';

export const RESULT_STREAM = 'MAIL_RESULTS';
export const resultSubject = (queueId: string): string => `mail.result.${queueId}`;
export const RESULT_CONSUMER = 'queue-manager-results';

/**
 * Stream definitions; every service ensures the ones it touches at start-up (idempotent). Work queues
 * drop a message once acknowledged; the spool keeps each until it is purged.
 */
export const STREAMS: readonly { name: string; subjects: readonly string[]; retention: 'workqueue' | 'limits' }[] = [
  { name: SPOOL_STREAM, subjects: ['mail.spool.>'], retention: 'limits' },
  { name: REMOTE_JOB_STREAM, subjects: ['mail.job.remote.>'], retention: 'workqueue' },
  { name: RESULT_STREAM, subjects: ['mail.result.>'], retention: 'workqueue' },
];

const address = z.string().max(512);

/**
 * Delivery status notifications asked for by the sender (RFC 3461), all optional: mail spooled, queued
 * or sent out by a version without them decodes as before, and means "no parameters given".
 * NOTIFY: NEVER alone, or any of SUCCESS, FAILURE, DELAY (absent: our default, FAILURE and DELAY).
 */
export const DsnNotify = z.array(z.enum(['SUCCESS', 'FAILURE', 'DELAY', 'NEVER'])).min(1).max(3);
export type DsnNotify = z.infer<typeof DsnNotify>;
/** RET: the whole message or only its header section in a failure report (absent: the header section). */
export const DsnReturn = z.enum(['FULL', 'HDRS']);
export type DsnReturn = z.infer<typeof DsnReturn>;
/** ENVID, decoded from xtext (at most 100 characters as sent, so at most 100 decoded). */
export const DsnEnvelopeId = z.string().max(100);
/**
 * A recipient's NOTIFY and ORCPT, for the recipients that gave either. ORCPT is kept as the report writes
 * it, `addr-type;address` with the address decoded from xtext (e.g. `rfc822;x@y`).
 */
export const RecipientDsn = z.object({
  recipient: address,
  notify: DsnNotify.optional(),
  orcpt: z.string().max(600).optional(),
});
export type RecipientDsn = z.infer<typeof RecipientDsn>;

/** The envelope of a spooled message (its head's Mail-Envelope header): the queue entry's seed. */
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
  /** BODY=BINARYMIME (RFC 3030): delivery converts it where the next hop (or a mailbox) needs lines. */
  binaryMime: z.boolean().default(false),
  clientAddress: z.string().default(''),
  /** The account that submitted it after SMTP AUTH ('' for mail from outside): delivery-agent signs its mail with DKIM. */
  submittedBy: z.string().default(''),
  /** RFC 8689 REQUIRETLS was given at MAIL (on a TLS session): every next hop must be trusted, verified TLS offering REQUIRETLS. Absent in what older versions spooled. */
  requireTls: z.boolean().optional(),
  /** For a notice of ours (a bounce or delay warning): the queue id of the message it reports on. */
  bounceOf: z.string().default(''),
  /** The bytes are in this many chunks before the head (a large message); 0 = in the head. */
  chunks: z.number().int().nonnegative().default(0),
  /** Their sequence numbers in the spool stream, so that removal deletes exactly them. */
  chunkSeqs: z.array(z.number().int().nonnegative()).default([]),
  /** RET and ENVID from MAIL (RFC 3461), when the client gave them. */
  ret: DsnReturn.optional(),
  envid: DsnEnvelopeId.optional(),
  /** NOTIFY and ORCPT from RCPT, for the recipients that gave them. */
  recipientDsn: z.array(RecipientDsn).optional(),
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
  /** The DSN request (RFC 3461), passed on to a next hop that offers DSN: RET, ENVID, and NOTIFY/ORCPT per recipient. */
  ret: DsnReturn.optional(),
  envid: DsnEnvelopeId.optional(),
  recipientDsn: z.array(RecipientDsn).optional(),
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
  /**
   * Where a delivered message went, which decides the success notice NOTIFY=SUCCESS asks for: into a
   * mailbox here (`delivered`), or to a next hop that took the DSN request with it (it reports from now
   * on: nothing from us) or that does not offer DSN (`relayed`). Absent from older delivery-agents.
   */
  handoff: z.enum(['mailbox', 'relayed-with-dsn', 'relayed-without-dsn']).optional(),
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

/** Items in one job or result batch at most. */
export const MAX_BATCH_ITEMS = 64;
/** Bytes of one batch at most, roughly (see approximateBytes): well under NATS's default max_payload of 1 MiB. */
export const MAX_BATCH_BYTES = 256 * 1024;

/** About what a job or result weighs in JSON, without encoding it: its strings plus room for the field names. */
export function approximateBytes(item: DeliveryJob | DeliveryResult): number {
  let bytes = 200 + item.queueId.length + item.jobId.length;
  if ('recipients' in item) {
    for (const recipient of item.recipients) bytes += recipient.length + 3;
    bytes += item.envid?.length ?? 0;
    for (const r of item.recipientDsn ?? []) bytes += 60 + r.recipient.length + (r.orcpt?.length ?? 0);
  } else for (const r of item.results) bytes += 100 + r.recipient.length + (r.reply?.length ?? 0) + (r.remoteMta?.length ?? 0);
  return bytes + ('sender' in item ? item.sender.length : 0);
}

/** One broker message on a job subject: the jobs of one lane that queue-manager sent out together. */
export const DeliveryJobBatch = z.object({ jobs: z.array(DeliveryJob).min(1).max(MAX_BATCH_ITEMS) });
/** One broker message on a result subject: the results delivery-agent reported together. */
export const DeliveryResultBatch = z.object({ results: z.array(DeliveryResult).min(1).max(MAX_BATCH_ITEMS) });

/** The jobs of a job message; a lone job object (what versions before batches sent) is a batch of one. */
export function decodeJobBatch(data: Uint8Array): DeliveryJob[] {
  const value: unknown = JSON.parse(decoder.decode(data));
  return isBatch(value, 'jobs') ? DeliveryJobBatch.parse(value).jobs : [DeliveryJob.parse(value)];
}

/** The results of a result message; a lone result object (before batches) is a batch of one. */
export function decodeResultBatch(data: Uint8Array): z.infer<typeof DeliveryResult>[] {
  const value: unknown = JSON.parse(decoder.decode(data));
  return isBatch(value, 'results') && !('jobId' in value) ? DeliveryResultBatch.parse(value).results : [DeliveryResult.parse(value)];
}

const isBatch = (value: unknown, field: string): value is Record<string, unknown> => typeof value === 'object' && value !== null && field in value;

/**
 * The broker's message id of a batch, for its duplicate window: a batch sent again (a publish retried
 * after a timeout) is dropped as a repeat. A batch of one keeps the item's own id.
 */
export function batchMessageId(itemIds: readonly string[]): string {
  if (itemIds.length === 1) return itemIds[0]!;
  return `batch.${createHash('sha256').update(itemIds.join('\n')).digest('base64url').slice(0, 32)}`;
}
