// What the service tests share: a real embedded store in a temporary directory with alice@example.test,
// and the gRPC service over it, called directly as grpc-js would call it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createMailboxService } from './service.js';
import { EmbeddedStore } from './store/embedded-store.js';

export const quietLogger = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;
export const THROTTLE = { maxFailures: 3, windowMs: 60_000, lockMs: 10_000, baseDelayMs: 0, maxDelayMs: 0, addressMaxFailures: 0 };

/** A store with alice@example.test and the service over it, for one test; removed afterwards. */
export async function withService(run: (store: EmbeddedStore, service: ReturnType<typeof createMailboxService>) => Promise<void>, maxMessageBytes = 1024 * 1024): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'service-deliver-'));
  const store = await EmbeddedStore.open(dir, maxMessageBytes);
  try {
    await store.addDomain('example.test');
    await store.addAccount({ address: 'alice@example.test', passwordHash: 'x' });
    await run(store, createMailboxService(store, quietLogger, { maxLeaseSeconds: 60, authThrottle: THROTTLE }));
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

