// Two queue-manager replicas: one is active (it holds the lease), the other mirrors the queue and
// answers `mailctl queue`. Mail accepted while no replica is active is counted as queued ("accepted,
// being queued"), and once the lease of the killed active replica expires, the standby takes the
// queue over and delivers it — each message once.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { poplibFetch, smtplibSend } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { freePort } from '@mail/launcher';
import { PASSWORD, startSystemWithUsers, waitForMessageCount } from './helpers.js';

const USER = 'failover@example.test';
const LEASE_MS = 12_000;

describe('queue-manager failover', () => {
  let system: MailSystem;
  let standbyAdmin = '';
  before(async () => {
    system = await startSystemWithUsers([USER], { env: { QUEUE_LEADER_LEASE: `${LEASE_MS}ms` } });
    const grpcPort = await freePort();
    const httpPort = await freePort();
    standbyAdmin = `127.0.0.1:${grpcPort}`;
    await system.startReplica('queue-manager', { QUEUE_GRPC_PORT: String(grpcPort), QUEUE_HTTP_PORT: String(httpPort) }, httpPort);
  });
  after(async () => {
    await system?.stop();
  });

  const send = async (n: number) => {
    const [result] = await smtplibSend(system.smtpPort, [{ from: 'someone@remote.test', to: [USER], data: Buffer.from(`Subject: failover ${n}\r\nMessage-ID: <failover-${n}@remote.test>\r\n\r\nbody ${n}\r\n`) }]);
    assert.ok(result!.ok, `message ${n} accepted`);
  };

  test('the standby serves the queue, counts what is accepted meanwhile, and takes over when the lease expires', async () => {
    await send(1);
    await waitForMessageCount(system, USER, 1);
    await system.kill('queue-manager');
    const killedAt = Date.now();
    await send(2);
    await send(3);
    const listed = await system.mailctl(['--queue-manager', standbyAdmin, 'queue', 'list']);
    assert.equal(listed.code, 0, listed.stderr);
    console.log(`standby's queue list ${Date.now() - killedAt} ms after the kill:\n${listed.stdout}`);
    assert.ok(Date.now() - killedAt < LEASE_MS, 'listed while no replica was active');
    // No active replica yet: the two messages are queued all the same, and said to be.
    assert.match(listed.stdout, /2 more accepted, being queued/);
    await waitForMessageCount(system, USER, 3, 60_000);
    const fetched = await poplibFetch(system.pop3Port, USER, PASSWORD);
    const subjects = fetched.messages.map((m) => /Subject: (failover \d+)/.exec(m.toString())![1]).sort();
    assert.deepEqual(subjects, ['failover 1', 'failover 2', 'failover 3'], 'each message once');
    const empty = await system.mailctl(['--queue-manager', standbyAdmin, 'queue', 'list']);
    assert.match(empty.stdout, /mail queue is empty/);
  });
});
