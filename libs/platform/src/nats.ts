// NATS connection and JetStream topology. Streams are file-backed work queues: a message stays until
// its consumer acknowledges it, so a crash between receipt and effect redelivers instead of losing.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { connect, credsAuthenticator, nkeyAuthenticator, TimeoutError, type MsgHdrs, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
/** A core NATS message (a request, say), for the services that answer one; headers for the ones that send one. */
export type { Msg as NatsMsg } from '@nats-io/transport-node';
export { headers as natsHeaders } from '@nats-io/transport-node';
import { z } from 'zod';
import { boolSetting, intSetting, setting, settingGroup, sizeSetting } from './config.js';
import { natsClientErrors } from './metrics.js';
import { INTERMEDIATE_CIPHERS, TLS_MIN_VERSION } from './tls-profile.js';
import { sizeSplitMessagesOnce, skipErrorsOfAnsweredRequests } from './nats-client-shims.js';
import { AckPolicy, DiscardPolicy, jetstream, JetStreamApiCodes, JetStreamApiError, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { natsInboxPrefix, SPOOL_STREAM, STREAMS } from '@mail/contracts';
import { Semaphore } from './semaphore.js';
import { pino, type Logger } from 'pino';

/** How to reach NATS besides its URL: credentials, TLS, replication. Everything off by default. */
export const NATS_SETTINGS = settingGroup('NATS (smtp-ingress, queue-manager, delivery-agent, mailbox-store)', {
  user: setting('NATS_USER', z.string().default(''), 'user name, with `NATS_PASSWORD`; replies then come to the inbox `_INBOX.<user>.…`, the only subjects a service\'s user may subscribe to'),
  password: setting('NATS_PASSWORD', z.string().default(''), 'its password'),
  token: setting('NATS_TOKEN', z.string().default(''), 'a token, for token authentication'),
  nkeySeed: setting('NATS_NKEY_SEED', z.string().default(''), 'an nkey seed (`SU...`), for nkey authentication'),
  credsFile: setting('NATS_CREDS_FILE', z.string().default(''), 'a .creds file (JWT + nkey seed), for decentralised authentication'),
  tls: setting('NATS_TLS', boolSetting(false), 'TLS to NATS'),
  tlsCaFile: setting('NATS_TLS_CA_FILE', z.string().default(''), 'the CA of the NATS servers'),
  tlsCertFile: setting('NATS_TLS_CERT_FILE', z.string().default(''), 'a client certificate'),
  tlsKeyFile: setting('NATS_TLS_KEY_FILE', z.string().default(''), 'its private key'),
  streamReplicas: setting('NATS_STREAM_REPLICAS', intSetting(1, 1), 'replicas of every stream and bucket (3 on a three-node cluster)'),
  spoolMaxBytes: setting(
    'NATS_SPOOL_MAX_BYTES',
    sizeSetting(0, 0),
    "the spool stream's own limit; 0 = none but the store's. Set it below nats-server's `max_file_store` (the manifests: 7 of 9 GB) so a full spool answers 451 while jobs, results and the queue bucket keep room to drain it",
  ),
});

export type NatsSettings = ReturnType<typeof NATS_SETTINGS.load>;

/** How to reach NATS besides its URL: credentials, TLS, replication. Everything off by default. */
export const loadNatsSettings = (env: NodeJS.ProcessEnv = process.env): NatsSettings => NATS_SETTINGS.load(env);

export function natsConnectionOptions(settings: NatsSettings): Partial<NodeConnectionOptions> {
  const options: Partial<NodeConnectionOptions> = {};
  // Replies to this user's requests come to an inbox of its own, which NATS lets no other user read.
  if (settings.user) Object.assign(options, { user: settings.user, pass: settings.password }, /^[A-Za-z0-9_-]+$/.test(settings.user) ? { inboxPrefix: natsInboxPrefix(settings.user) } : {});
  if (settings.token) options.token = settings.token;
  if (settings.nkeySeed) options.authenticator = nkeyAuthenticator(new TextEncoder().encode(settings.nkeySeed));
  if (settings.credsFile) options.authenticator = credsAuthenticator(readFileSync(settings.credsFile));
  if (settings.tls) {
    // The Node transport passes its TLS options on to tls.connect, these two included (they are not in its type).
    const tls: NonNullable<NodeConnectionOptions['tls']> & Pick<ConnectionOptions, 'ciphers' | 'minVersion'> = {
      ciphers: INTERMEDIATE_CIPHERS,
      minVersion: TLS_MIN_VERSION,
      ...(settings.tlsCaFile ? { caFile: settings.tlsCaFile } : {}),
      ...(settings.tlsCertFile ? { certFile: settings.tlsCertFile, keyFile: settings.tlsKeyFile } : {}),
    };
    options.tls = tls;
  }
  return options;
}

export interface NatsContext {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  settings: NatsSettings;
  /** Connected now (false while the client reconnects): what /readyz reports. */
  connected(): boolean;
}

export async function connectNats(url: string, name: string, logger: Logger, settings: NatsSettings = loadNatsSettings()): Promise<NatsContext> {
  skipErrorsOfAnsweredRequests();
  sizeSplitMessagesOnce();
  // noAsyncTraces: the client would otherwise build an Error (a stack capture) for every request and
  // publish ack just in case it fails — measured at a third of queue-manager's CPU under load.
  const nc = await connect({ servers: url.split(','), name, maxReconnectAttempts: -1, reconnectTimeWait: 500, noAsyncTraces: true, ...natsConnectionOptions(settings) });
  let connected = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect' || status.type === 'error') {
        if (status.type === 'disconnect') connected = false;
        if (status.type === 'reconnect') connected = true;
        if (status.type !== 'reconnect') natsClientErrors.inc();
        logger.warn({ nats: status.type }, 'nats connection status');
      }
    }
  })();
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
  } catch (err) {
    await nc.close(); // no JetStream: fail start-up cleanly rather than hold the connection open
    throw err;
  }
  return { nc, js: jetstream(nc), jsm, settings, connected: () => connected && !nc.isClosed() };
}

/**
 * A JetStream request that failed only for now: unanswered in time, or refused as unavailable (503),
 * as a cluster electing its leader (a node just restarted) answers for a while.
 */
export const isPassingJetStreamFailure = (err: unknown): boolean =>
  err instanceof TimeoutError || (err instanceof JetStreamApiError && err.status === 503);

const isStreamNotFound = (err: unknown): boolean => err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;

export interface SettleOptions {
  logger: Logger;
  /** What is waited for, in the warning said every `warnEveryMs` while it lasts. */
  waitingFor: string;
  /** Also waits out these failures (beside the passing ones), saying `why` instead. */
  alsoWaitFor?: (err: unknown) => string | undefined;
  retryMs?: number;
  warnEveryMs?: number;
}

/**
 * Runs a start-up request to JetStream until it succeeds, asking again after `retryMs` while it fails for
 * now (isPassingJetStreamFailure, or `alsoWaitFor`); any other error (a refusal, no JetStream) is thrown
 * at once, so a misconfiguration still ends the start.
 */
export async function whenJetStreamSettles<T>(request: () => Promise<T>, options: SettleOptions): Promise<T> {
  const { logger, retryMs = 500, warnEveryMs = 5000 } = options;
  let lastSaid = Date.now();
  for (;;) {
    try {
      return await request();
    } catch (err) {
      const why = isPassingJetStreamFailure(err) ? `waiting for JetStream to answer (${err instanceof Error ? err.message : String(err)})` : options.alsoWaitFor?.(err);
      if (why === undefined) throw err;
      if (Date.now() - lastSaid >= warnEveryMs) {
        logger.warn({ waitingFor: options.waitingFor }, why);
        lastSaid = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  }
}

/**
 * Creates the streams if they are missing (queue-manager, which provisions them, calls this at every
 * start; it is idempotent; see libs/contracts nats-permissions.ts), and keeps the
 * spool's own byte limit as configured (NATS_SPOOL_MAX_BYTES): beyond it a publish is refused (discard
 * new), never an older spooled message dropped. A JetStream that does not answer for now is waited for
 * (whenJetStreamSettles), saying so to `logger` (the tests that provision streams need not listen).
 */
export async function ensureStreams(nats: NatsContext, maxMessageBytes: number, logger: Logger = pino({ level: 'silent' })): Promise<void> {
  const { jsm } = nats;
  const settle = <T>(waitingFor: string, request: () => Promise<T>) => whenJetStreamSettles(request, { logger, waitingFor });
  for (const stream of STREAMS) {
    const budget = stream.name === SPOOL_STREAM ? nats.settings.spoolMaxBytes : 0;
    // The spool: its own byte limit, and direct gets (delivery-agent reads each message by subject).
    const limits = { max_bytes: budget > 0 ? budget : -1, discard: DiscardPolicy.New, allow_direct: true };
    const config = {
      name: stream.name,
      num_replicas: nats.settings.streamReplicas,
      subjects: [...stream.subjects],
      retention: stream.retention === 'limits' ? RetentionPolicy.Limits : RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_msg_size: maxMessageBytes,
      // Publishers set a message id; the server drops repeats within this window (nanoseconds).
      duplicate_window: 10 * 60 * 1_000_000_000,
      ...(stream.name === SPOOL_STREAM ? limits : {}),
    };
    const existing = await settle(`stream ${stream.name}`, () => jsm.streams.info(stream.name).catch((err: unknown) => (isStreamNotFound(err) ? undefined : Promise.reject(err))));
    if (!existing) {
      try {
        await settle(`stream ${stream.name}`, () => jsm.streams.add(config));
      } catch (err) {
        // Another service created it in the meantime.
        await jsm.streams.info(stream.name).catch(() => {
          throw err;
        });
      }
      continue;
    }
    if (stream.name === SPOOL_STREAM && (existing.config.max_bytes !== limits.max_bytes || existing.config.discard !== limits.discard || !existing.config.allow_direct)) {
      await settle(`stream ${stream.name}`, () => jsm.streams.update(stream.name, { ...existing.config, ...limits }));
    }
  }
}

/**
 * Waits until the streams a service uses but does not create exist (queue-manager makes them), saying
 * so every few seconds. A request that fails only for now (isPassingJetStreamFailure: a JetStream cluster
 * electing its leader, a node just restarted) is asked again too. Any other error (a refusal, no
 * JetStream) fails at once.
 */
export async function awaitStreams(nats: NatsContext, names: readonly string[], logger: Logger, retryMs = 500): Promise<void> {
  const missing = (err: unknown) => (isStreamNotFound(err) ? 'waiting for queue-manager to create the stream' : undefined);
  for (const name of names) await whenJetStreamSettles(() => nats.jsm.streams.info(name), { logger, waitingFor: `stream ${name}`, alsoWaitFor: missing, retryMs });
}

export interface ConsumerOptions {
  stream: string;
  durable: string;
  /** Only the stream's messages on this subject (e.g. the spool's heads, not their chunks). */
  filterSubject?: string;
  /** Deliver headers only (the handler reads `headers`; `data` is empty). */
  headersOnly?: boolean;
  /** Redelivery after this long without an ack (a crashed or stuck worker). */
  ackWaitMs: number;
  /** Messages handled at once by this process. */
  concurrency: number;
  logger: Logger;
  /** Handles one message; resolve when its effect is durable. Throwing schedules a redelivery. */
  handle: (data: Uint8Array, info: { deliveryCount: number; subject: string; headers?: MsgHdrs; streamSequence: number }) => Promise<void>;
}

/** Thrown by a handler to have its message delivered again after exactly `delayMs` (a timer, not a failure). */
export class RetryLater extends Error {
  constructor(readonly delayMs: number) {
    super(`retry in ${delayMs} ms`);
  }
}

/** Retry delay for a message whose handler failed: 1 s doubling up to one minute. */
export const redeliveryDelayMs = (deliveryCount: number): number => Math.min(1000 * 2 ** Math.max(0, deliveryCount - 1), 60_000);

/**
 * Runs a durable pull consumer with explicit acks: a message is acknowledged only after its handler
 * resolved, so a crash at any point leads to redelivery, never loss. Returns a function that stops it.
 */
export async function runConsumer(nats: NatsContext, options: ConsumerOptions): Promise<(graceMs?: number) => Promise<void>> {
  const addConsumer = () => nats.jsm.consumers.add(options.stream, {
    durable_name: options.durable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: options.ackWaitMs * 1_000_000,
    max_deliver: -1,
    max_ack_pending: Math.max(options.concurrency * 4, 64),
    ...(options.filterSubject ? { filter_subject: options.filterSubject } : {}),
    ...(options.headersOnly ? { headers_only: true } : {}),
  });
  await whenJetStreamSettles(addConsumer, { logger: options.logger, waitingFor: `consumer ${options.durable}` });
  const consumer = await nats.js.consumers.get(options.stream, options.durable);
  const messages = await consumer.consume({ max_messages: options.concurrency * 2 });
  const inFlight = new Set<Promise<void>>();
  // Acks leave once per turn of the event loop, together: one socket write for the messages finished
  // in that turn instead of one each (a handler's ack is already a fire-and-forget publish).
  let acks: JsMsg[] = [];
  const ackSoon = (message: JsMsg) => {
    acks.push(message);
    if (acks.length === 1) {
      setImmediate(() => {
        const due = acks;
        acks = [];
        for (const m of due) m.ack();
      });
    }
  };
  /** Messages being handled, so a shutdown can hand the unfinished ones back at once. */
  const handling = new Set<{ nak(): void }>();
  let handedBack = false;
  const slots = new Semaphore(options.concurrency);
  const loop = (async () => {
    // A slot is taken before the next message is pulled: with every slot busy, the loop waits there.
    let release = await slots.acquire();
    for await (const message of messages) {
      const done = release;
      handling.add(message);
      const task = (async () => {
        const deliveryCount = message.info.deliveryCount;
        // A long handler (a slow remote server) tells the server it is still working, so ack_wait
        // stays short for the case that matters: a worker that died.
        const heartbeat = setInterval(() => message.working(), Math.max(1000, options.ackWaitMs / 3));
        try {
          await options.handle(message.data, { deliveryCount, subject: message.subject, headers: message.headers, streamSequence: message.seq });
          // A plain ack, not a request: every handler is idempotent, so an ack lost on the way only
          // means one more (harmless) delivery, and the round trip it saves is on every message.
          ackSoon(message);
        } catch (err) {
          if (err instanceof RetryLater) {
            message.nak(Math.max(0, Math.ceil(err.delayMs)));
            return;
          }
          if (isMalformedPayload(err)) {
            // Retrying cannot fix it: keep it out of the way and say so loudly.
            options.logger.error({ err: String(err), subject: message.subject }, 'malformed message payload; terminated');
            message.term();
            return;
          }
          const delay = redeliveryDelayMs(deliveryCount);
          options.logger.warn({ err: err instanceof Error ? err.message : String(err), subject: message.subject, deliveryCount, retryInMs: delay }, 'message handling failed; will retry');
          message.nak(delay);
        } finally {
          clearInterval(heartbeat);
        }
      })();
      inFlight.add(task);
      void task.finally(() => {
        inFlight.delete(task);
        handling.delete(message);
        done();
      });
      release = await slots.acquire();
    }
  })();
  /**
   * Stops taking messages, lets those in hand finish for up to `graceMs`, then hands the rest back to
   * JetStream (nak) so another replica takes them now rather than after ack_wait.
   */
  return async (graceMs = 15_000) => {
    messages.stop();
    await loop.catch(() => undefined);
    const finished = Promise.all(inFlight).then(() => true);
    const inTime = await Promise.race([finished, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), graceMs).unref())]);
    if (!inTime && !handedBack) {
      handedBack = true;
      options.logger.warn({ unfinished: handling.size }, 'shutting down: unfinished messages handed back');
      for (const message of handling) message.nak();
    }
  };
}

const isMalformedPayload = (err: unknown): boolean =>
  err instanceof SyntaxError || (err instanceof Error && err.name === 'ZodError');
