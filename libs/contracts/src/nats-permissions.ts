// Who may do what on NATS: one user per service that uses NATS, with publish and subscribe permissions
// limited to the subjects, streams, buckets and consumers of its job (nats.ts names them). The one
// place these are written: the local run, the test kit and deploy/k8s/base/config/nats.conf all render
// their nats-server `authorization` block from here (deploy-check compares the manifest with it).
//
// Who provisions: queue-manager creates and updates the three mail streams and its own buckets. It owns
// the queue and must already be able to delete from the spool, so these rights give it nothing it could
// not already do to the mail; the Internet-facing smtp-ingress gets no JetStream management at all (a
// stream update could shrink the spool's limits, which is a purge by another name), and delivery-agent
// only the buckets that are its own. The others wait at start-up until the streams they use exist.
//
// Replies: each user's requests get their answers on an inbox of its own, `_INBOX.<user>.…` (the
// client's inboxPrefix, set by libs/platform connectNats), and may subscribe to nothing else, so no
// service reads another's replies (JetStream API answers, messages pulled from a consumer, KV watches).
// One service answers requests: mailbox-store, the local lane's jobs. Their answers go to a subject of
// their own (LOCAL_RESULT_PREFIX in nats.ts says why), never to an inbox, so it cannot forge an answer to
// a JetStream request of queue-manager's.
import {
  ACCEPTED_CONSUMER,
  DELIVERY_BACKOFF_BUCKET,
  DELIVERY_LEDGER_BUCKET,
  MTA_STS_BUCKET,
  TLS_REPORT_BUCKET,
  LEADER_BUCKET,
  LOCAL_JOB_SUBJECT,
  LOCAL_RESULT_PREFIX,
  QUEUE_BUCKET,
  REMOTE_JOB_CONSUMER,
  REMOTE_JOB_STREAM,
  RESULT_CONSUMER,
  RESULT_STREAM,
  SPOOL_STREAM,
  STREAMS,
} from './nats.js';

export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
}

/** The services that connect to NATS; pop3-access and mailctl have no NATS user at all. */
export const NATS_SERVICES = ['smtp-ingress', 'queue-manager', 'delivery-agent', 'mailbox-store'] as const;
export type NatsService = (typeof NATS_SERVICES)[number];

/** The inbox prefix of a user: its requests' replies come here, and only it may subscribe here. */
export const natsInboxPrefix = (user: string): string => `_INBOX.${user}`;

const API = '$JS.API';
const kvStream = (bucket: string): string => `KV_${bucket}`;
/** Reads single messages of a stream: direct gets (by subject in the request subject, or in its body) and the API's get. */
const readMessages = (stream: string): string[] => [`${API}.DIRECT.GET.${stream}`, `${API}.DIRECT.GET.${stream}.>`, `${API}.STREAM.MSG.GET.${stream}`];
/** Creates (idempotently), reads and pulls from the named durable consumer, and acknowledges its messages. */
const durableConsumer = (stream: string, name: string): string[] => [
  `${API}.CONSUMER.CREATE.${stream}.${name}`,
  `${API}.CONSUMER.CREATE.${stream}.${name}.>`,
  `${API}.CONSUMER.INFO.${stream}.${name}`,
  `${API}.CONSUMER.MSG.NEXT.${stream}.${name}`,
  `$JS.ACK.${stream}.${name}.>`,
];
/** Throwaway ordered consumers (any name) on a stream: created, read, pulled, deleted; and flow control of push ones. */
const orderedConsumers = (stream: string): string[] => [
  `${API}.CONSUMER.CREATE.${stream}`,
  `${API}.CONSUMER.CREATE.${stream}.>`,
  `${API}.CONSUMER.INFO.${stream}.>`,
  `${API}.CONSUMER.MSG.NEXT.${stream}.>`,
  `${API}.CONSUMER.DELETE.${stream}.>`,
  `$JS.FC.${stream}.>`,
];
/** A KV bucket the user creates (or opens), reads, writes and watches. */
const ownBucket = (bucket: string): string[] => [
  `${API}.STREAM.CREATE.${kvStream(bucket)}`,
  `${API}.STREAM.INFO.${kvStream(bucket)}`,
  `$KV.${bucket}.>`,
  ...readMessages(kvStream(bucket)),
];


export const NATS_PERMISSIONS: Record<NatsService, NatsPermissions> = {
  // Writes the spool (heads and chunks of accepted mail), and may see that the spool stream exists
  // (readiness). Reads no message, deletes none, publishes no job or result, sees no queue state.
  'smtp-ingress': {
    publish: [`${API}.INFO`, `${API}.STREAM.INFO.${SPOOL_STREAM}`, 'mail.spool.>'],
    subscribe: [`${natsInboxPrefix('smtp-ingress')}.>`],
  },
  // The queue: provisions the streams, reads the spool's heads (its consumer, and takeover's ordered
  // reads), reads and deletes spooled messages, spools its own notices (bounces), publishes remote jobs
  // and consumes their results, sends local jobs as requests (their results come to its inbox), and keeps its state and its leader lease in buckets of its own.
  'queue-manager': {
    publish: [
      `${API}.INFO`,
      ...STREAMS.flatMap((s) => [`${API}.STREAM.INFO.${s.name}`, `${API}.STREAM.CREATE.${s.name}`]),
      `${API}.STREAM.UPDATE.${SPOOL_STREAM}`,
      'mail.spool.>',
      ...readMessages(SPOOL_STREAM),
      `${API}.STREAM.MSG.DELETE.${SPOOL_STREAM}`,
      ...durableConsumer(SPOOL_STREAM, ACCEPTED_CONSUMER),
      ...orderedConsumers(SPOOL_STREAM),
      'mail.job.remote.>',
      LOCAL_JOB_SUBJECT,
      ...durableConsumer(RESULT_STREAM, RESULT_CONSUMER),
      ...ownBucket(QUEUE_BUCKET),
      ...orderedConsumers(kvStream(QUEUE_BUCKET)),
      ...ownBucket(LEADER_BUCKET),
    ],
    subscribe: [`${natsInboxPrefix('queue-manager')}.>`, `${LOCAL_RESULT_PREFIX}.>`],
  },
  // Remote delivery: pulls the remote lane's jobs, reads the message bytes from the spool, publishes
  // results, spools the TLS-RPT reports it sends, and shares destination back-off, its ledger of remote
  // deliveries, MTA-STS policies and TLS-RPT counts in buckets of its own.
  'delivery-agent': {
    publish: [
      `${API}.INFO`,
      ...[SPOOL_STREAM, REMOTE_JOB_STREAM, RESULT_STREAM].map((s) => `${API}.STREAM.INFO.${s}`),
      ...readMessages(SPOOL_STREAM),
      ...durableConsumer(REMOTE_JOB_STREAM, REMOTE_JOB_CONSUMER),
      'mail.result.>',
      // The TLS-RPT reports it queues as mail (heads only: a report is small); it deletes nothing from the spool.
      'mail.spool.*',
      ...ownBucket(DELIVERY_BACKOFF_BUCKET),
      ...ownBucket(DELIVERY_LEDGER_BUCKET),
      ...ownBucket(MTA_STS_BUCKET),
      ...ownBucket(TLS_REPORT_BUCKET),
      // Listing the days kept (mailctl tlsrpt show) reads the bucket's keys through an ordered consumer.
      ...orderedConsumers(kvStream(TLS_REPORT_BUCKET)),
    ],
    subscribe: [`${natsInboxPrefix('delivery-agent')}.>`],
  },
  // Local delivery: takes the local lane's jobs (requests of queue-manager's), reads the message bytes
  // from the spool, and answers each request with its results. Nothing else: it writes no spool, no
  // job, no bucket, and publishes to no stream and into no inbox.
  'mailbox-store': {
    publish: [`${API}.INFO`, `${API}.STREAM.INFO.${SPOOL_STREAM}`, ...readMessages(SPOOL_STREAM), `${LOCAL_RESULT_PREFIX}.>`],
    subscribe: [`${natsInboxPrefix('mailbox-store')}.>`, LOCAL_JOB_SUBJECT],
  },
};

/** The streams a service uses but does not create: it waits for them at start-up. */
export const STREAMS_USED: Record<Exclude<NatsService, 'queue-manager'>, string[]> = {
  'smtp-ingress': [SPOOL_STREAM],
  'delivery-agent': [SPOOL_STREAM, REMOTE_JOB_STREAM, RESULT_STREAM],
  'mailbox-store': [SPOOL_STREAM],
};

/** The environment variable nats.conf reads a service's password from, in deploy/ (e.g. SMTP_INGRESS_NATS_PASSWORD). */
export const natsPasswordVariable = (service: NatsService): string => `${service.toUpperCase().replace(/-/g, '_')}_NATS_PASSWORD`;

/**
 * nats-server's `authorization` block: a user per service with its permissions. `password` gives each
 * user's password as it is to appear in the file: a quoted literal (`JSON.stringify(secret)`), or a
 * variable reference such as `$SMTP_INGRESS_NATS_PASSWORD` that nats-server takes from its environment.
 */
export function natsAuthorizationConfig(password: (service: NatsService) => string): string {
  const allow = (kind: string, subjects: string[]) => [`        ${kind}: {`, '          allow: [', ...subjects.map((s) => `            ${JSON.stringify(s)}`), '          ]', '        }'];
  const users = NATS_SERVICES.map((service) => {
    const { publish, subscribe } = NATS_PERMISSIONS[service];
    return [
      '    {',
      `      user: ${JSON.stringify(service)}`,
      `      password: ${password(service)}`,
      '      permissions: {',
      ...allow('publish', publish),
      ...allow('subscribe', subscribe),
      '      }',
      '    }',
    ].join('\n');
  });
  return `authorization {\n  users: [\n${users.join('\n')}\n  ]\n}\n`;
}
