// NATS connection and JetStream topology. Streams are file-backed work queues: a message stays until
// its consumer acknowledges it, so a crash between receipt and effect redelivers instead of losing.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { STREAMS } from '@mail/contracts';
import type { Logger } from 'pino';

export interface NatsContext {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export async function connectNats(url: string, name: string, logger: Logger): Promise<NatsContext> {
  const nc = await connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect' || status.type === 'error') {
        logger.warn({ nats: status.type }, 'nats connection status');
      }
    }
  })();
  const jsm = await jetstreamManager(nc);
  return { nc, js: jetstream(nc), jsm };
}

/** Creates the work-queue streams if they are missing (every service calls this; it is idempotent). */
export async function ensureStreams(jsm: JetStreamManager, maxMessageBytes: number): Promise<void> {
  for (const stream of STREAMS) {
    const config = {
      name: stream.name,
      subjects: [...stream.subjects],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_msg_size: maxMessageBytes,
      // Publishers set a message id; the server drops repeats within this window (nanoseconds).
      duplicate_window: 10 * 60 * 1_000_000_000,
    };
    try {
      await jsm.streams.info(stream.name);
    } catch {
      try {
        await jsm.streams.add(config);
      } catch (err) {
        // Another service created it in the meantime.
        await jsm.streams.info(stream.name).catch(() => {
          throw err;
        });
      }
    }
  }
}
