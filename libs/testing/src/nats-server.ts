// A fresh nats-server with two clients: two replicas of a service, for the tests.
import { pino } from 'pino';
import { startNatsServer } from '@mail/launcher';
import { connectNats, type NatsContext } from '@mail/platform';
import { temporaryDirectory } from './temporary-directories.js';

/**
 * A fresh nats-server and two connections to it, as two replicas of a service would have; all closed
 * and stopped after `run`.
 */
export async function withTwoNatsClients(run: (a: NatsContext, b: NatsContext) => Promise<void>): Promise<void> {
  const server = await startNatsServer(await temporaryDirectory('nats-pair-'));
  const logger = pino({ level: 'silent' });
  const a = await connectNats(server.url, 'a', logger);
  const b = await connectNats(server.url, 'b', logger);
  try {
    await run(a, b);
  } finally {
    await a.nc.close();
    await b.nc.close();
    await server.stop();
  }
}
