// A service that uses streams queue-manager makes (smtp-ingress, delivery-agent) waits for them at start,
// against a real nats-server: it starts before them and goes on once they exist.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { STREAMS_USED } from '@mail/contracts';
import { awaitStreams, connectNats, ensureStreams } from '@mail/platform';
import { startNatsServer } from '@mail/launcher';
import { temporaryDirectory } from '../temporary-directories.js';

test('smtp-ingress waits for its streams until queue-manager has made them, then goes on', async () => {
  const server = await startNatsServer(join(await temporaryDirectory('stream-wait-'), 'nats'));
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg) });
  const ingress = await connectNats(server.url, 'smtp-ingress', logger);
  const manager = await connectNats(server.url, 'queue-manager', logger);
  try {
    let ready = false;
    const waiting = awaitStreams(ingress, STREAMS_USED['smtp-ingress'], logger, 50).then(() => (ready = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(ready, false, 'no stream exists yet');
    await ensureStreams(manager, 1024 * 1024, logger);
    await waiting;
    for (const name of STREAMS_USED['smtp-ingress']) assert.equal((await ingress.jsm.streams.info(name)).config.name, name);
  } finally {
    await ingress.nc.close();
    await manager.nc.close();
    await server.stop();
  }
});
