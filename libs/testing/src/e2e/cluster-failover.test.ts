// Cluster failover (issue: broker lifecycle): the five services (and a second replica of smtp-ingress,
// queue-manager, delivery-agent and pop3-access) on a three-node JetStream cluster with three replicas of
// every stream and bucket. Under steady load: kill -9 of one node, then of another after the first is
// back, then a rolling restart of all three (SIGTERM, start, next). Every message accepted with 250
// arrives exactly once; the longest stretch without a 250 while clients kept trying is reported (and
// bounded loosely: a lost quorum would show as a long one).
//
// Twice: on the embedded store (one writer, so one mailbox-store), and on the MongoDB backend with a
// second mailbox-store replica, which the second delivery-agent and pop3-access use: two stores writing
// one database while the broker fails. The MongoDB run's load is lighter (FerretDB, the MongoDB-wire
// server the tests run on, fetches a maildrop of thousands of messages too slowly for the test's time).
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { poplibFetch } from '../clients.js';
import { freePort } from '@mail/launcher';
import type { MailSystem } from '../mail-system.js';
import { messageIdOf, PASSWORD, sendTracked, startSystemWithUsers } from './helpers.js';

const USERS = ['ann@example.test', 'ben@example.test'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const store of ['embedded', 'mongo'] as const) describe(`a three-node JetStream cluster: node failures and a rolling restart under load (${store} store)`, () => {
  let system: MailSystem;
  const ingressPorts: number[] = [];
  const pop3Ports: number[] = [];
  /** Senders at once, and their pause after a 250: ~100 msg/s on the embedded store, ~10 on FerretDB. */
  const [senders, pauseMs] = store === 'mongo' ? [2, 150] : [4, 20];
  before(async () => {
    system = await startSystemWithUsers(USERS, {
      natsCluster: true,
      store,
      // A local job whose request or answer went with a killed node goes again after 20 s: long enough that
      // FerretDB's slow deliveries under this load are not all sent twice.
      env: { DELIVERY_ACK_WAIT_MS: '5000', QUEUE_LOCAL_JOB_TIMEOUT: '20000', QUEUE_ACK_WAIT_MS: '5000' },
      // As Kubernetes would: a service that exits by itself (a queue-manager whose lease lapsed) comes back.
      supervise: { report: (line) => console.log(`cluster: ${line}`) },
    });
    // On MongoDB, a second mailbox-store, used by the second delivery-agent and pop3-access.
    const secondStore: Record<string, string> = {};
    if (store === 'mongo') {
      const httpPort = await freePort();
      const grpcPort = await freePort();
      await system.startReplica('mailbox-store', { MAILBOX_GRPC_PORT: String(grpcPort), MAILBOX_HTTP_PORT: String(httpPort) }, httpPort);
      secondStore.MAILBOX_STORE_ADDRESS = `127.0.0.1:${grpcPort}`;
    }
    // Second replicas: two edges taking mail, two workers delivering, a queue-manager on standby.
    for (const name of ['smtp-ingress', 'queue-manager', 'delivery-agent', 'pop3-access'] as const) {
      const httpPort = await freePort();
      const ports: Record<string, string> =
        name === 'smtp-ingress'
          ? { SMTP_PORT: String(await freePort()), SMTP_SUBMISSION_PORT: String(await freePort()), SMTPS_PORT: String(await freePort()), SMTP_HTTP_PORT: String(httpPort) }
          : name === 'queue-manager'
            ? { QUEUE_GRPC_PORT: String(await freePort()), QUEUE_HTTP_PORT: String(httpPort) }
            : name === 'pop3-access'
              ? { POP3_PORT: String(await freePort()), POP3S_PORT: String(await freePort()), POP3_HTTP_PORT: String(httpPort), ...secondStore }
              : { DELIVERY_HTTP_PORT: String(httpPort), ...secondStore };
      await system.startReplica(name, ports, httpPort);
      if (name === 'smtp-ingress') ingressPorts.push(system.smtpPort, Number(ports.SMTP_PORT));
      if (name === 'pop3-access') pop3Ports.push(system.pop3Port, Number(ports.POP3_PORT));
    }
  });
  after(async () => {
    await system?.stop();
  });

  test('every 250 delivered exactly once through node kills and a rolling restart', { timeout: 600_000 }, async () => {
    const cluster = system.natsCluster!;
    const accepted = new Map<string, string[]>();
    const maybeAccepted = new Set<string>();
    let running = true;
    let next = 0;
    let lastAccepted = Date.now();
    let longestGapMs = 0;
    const sender = async (k: number) => {
      while (running) {
        const id = `cluster-${k}-${next++}@remote.test`;
        const recipients = next % 3 === 0 ? USERS : [USERS[next % 2]!];
        const outcome = await sendTracked(ingressPorts[k % ingressPorts.length]!, id, recipients, 1024);
        if (outcome === 'accepted') {
          const now = Date.now();
          longestGapMs = Math.max(longestGapMs, now - lastAccepted);
          lastAccepted = now;
          accepted.set(id, recipients);
        } else if (outcome === 'unknown') maybeAccepted.add(id);
        await sleep(outcome === 'accepted' ? pauseMs : 100); // steady, not flat out
      }
    };
    const load = Array.from({ length: senders }, (_, k) => sender(k));
    const steps: string[] = [];
    await sleep(3000);
    steps.push('kill -9 node 0');
    await cluster.kill(0);
    await sleep(8000);
    await cluster.start(0);
    await sleep(8000);
    steps.push('kill -9 node 1');
    await cluster.kill(1);
    await sleep(8000);
    await cluster.start(1);
    await sleep(8000);
    for (let node = 0; node < cluster.size; node++) {
      steps.push(`rolling restart of node ${node}`);
      await cluster.stop(node);
      await sleep(2000);
      await cluster.start(node);
      await sleep(6000);
    }
    running = false;
    await Promise.all(load);
    console.log(`cluster (${store} store): ${steps.join('; ')}; ${accepted.size} accepted, ${maybeAccepted.size} with the answer lost; longest stretch without a 250: ${longestGapMs} ms`);
    assert.ok(accepted.size > (store === 'mongo' ? 100 : 200), `mail flowed: ${accepted.size} accepted`);

    const fetched = new Map<string, string[]>(USERS.map((u) => [u, []]));
    const expected = new Map(USERS.map((u) => [u, new Set([...accepted].filter(([, to]) => to.includes(u)).map(([id]) => id))]));
    const missing = (user: string) => [...expected.get(user)!].filter((id) => !fetched.get(user)!.includes(id));
    let fetches = 0;
    const fetchAll = async () => {
      for (const user of USERS) {
        const result = await poplibFetch(pop3Ports[fetches++ % pop3Ports.length]!, user, PASSWORD, { delete: true });
        assert.equal(result.error, '', `${user}: POP3 session failed`);
        fetched.get(user)!.push(...result.messages.map(messageIdOf));
      }
    };
    const until = Date.now() + 180_000;
    while (USERS.some((u) => missing(u).length > 0) && Date.now() < until) {
      await fetchAll();
      await sleep(1000);
    }
    await sleep(3000); // a duplicate, if any, would arrive now
    await fetchAll();
    for (const user of USERS) {
      assert.deepEqual(missing(user), [], `${user}: accepted messages never delivered`);
      const ids = fetched.get(user)!;
      assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], `${user}: messages delivered more than once`);
      assert.deepEqual(ids.filter((id) => !expected.get(user)!.has(id) && !maybeAccepted.has(id)), [], `${user}: messages nobody sent to them`);
    }
    assert.ok(longestGapMs < 30_000, `intake stopped for ${longestGapMs} ms`);
  });
});
