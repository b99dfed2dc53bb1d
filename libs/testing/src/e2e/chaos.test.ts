// Chaos (issue: broker lifecycle): while mail flows to three users and they fetch and delete it over
// POP3, random services and nats-server itself are killed with SIGKILL at random moments and started
// again. Afterwards every message accepted with 250 is in each of its recipients' maildrops exactly once,
// counted by Message-ID across everything fetched and deleted during the run and after it.
//
// Bounded for CI (CHAOS_SECONDS=60 of chaos, about 20 kills); `npm run chaos` runs the long version,
// which also goes through an exhaustion cycle halfway (CHAOS_EXHAUST=1, the default from 180 s on): with
// the spool's budget small (NATS_SPOOL_MAX_BYTES), queue-manager is stopped (no job goes out) until intake answers 451
// for a while, then started; intake must accept again by itself, and the end checks stay the same.
// CHAOS_SEED repeats a run (the seed is printed).
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { poplibFetch } from '../clients.js';
import { SERVICE_NAMES, type MailSystem, type ServiceName } from '../mail-system.js';
import { messageIdOf, PASSWORD, sendTracked, startSystemWithUsers } from './helpers.js';

const USERS = ['ann@example.test', 'ben@example.test', 'cat@example.test'];
const CHAOS_SECONDS = Number(process.env.CHAOS_SECONDS ?? 60);
const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);
const SENDERS = 4;
const EXHAUST = (process.env.CHAOS_EXHAUST ?? (CHAOS_SECONDS >= 180 ? '1' : '0')) === '1';
/** The spool's budget in an exhaustion run: a few seconds of intake with nothing delivered. */
const EXHAUST_SPOOL_BYTES = 4 * 1024 * 1024;

/** A small seeded generator (mulberry32), so a failing run can be repeated. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('chaos: random kill -9 of services and nats-server under load, with fetch-and-delete', () => {
  let system: MailSystem;
  before(async () => {
    system = await startSystemWithUsers(USERS, {
      env: {
        DELIVERY_ACK_WAIT_MS: '5000',
        QUEUE_LOCAL_JOB_TIMEOUT: '5000',
        QUEUE_ACK_WAIT_MS: '5000',
        POP3_LEASE_SECONDS: '30',
        ...(EXHAUST ? { NATS_SPOOL_MAX_BYTES: String(EXHAUST_SPOOL_BYTES) } : {}),
      },
      // A service that exits by itself is started again, as Kubernetes or the local run would: a
      // queue-manager that lost its lease while nats-server was down exits on purpose (status 75).
      supervise: { report: (line) => console.log(`chaos: ${line}`) },
    });
  });
  after(async () => {
    await system?.stop();
  });

  test(`every 250 delivered exactly once per recipient (seed ${SEED}, ${CHAOS_SECONDS} s)`, { timeout: (CHAOS_SECONDS * 3 + 600) * 1000 }, async () => {
    const rand = random(SEED);
    console.log(`chaos seed ${SEED}`);
    const accepted = new Map<string, string[]>(); // id -> recipients
    const maybeAccepted = new Set<string>(); // the connection died after the data: queued or not
    const fetched = new Map<string, string[]>(USERS.map((u) => [u, []])); // ids, from sessions that ended with +OK
    const maybeFetched = new Map<string, Set<string>>(USERS.map((u) => [u, new Set()])); // from sessions that failed
    let running = true;
    let next = 0;
    let refused = 0;
    const kills: string[] = [];
    const exhaustion = { refusedWhileFull: 0, acceptingAgainAfterMs: -1, tookMs: 0 };

    const sender = async () => {
      while (running) {
        const id = `chaos-${SEED}-${next++}@remote.test`;
        const recipients = USERS.filter(() => rand() < 0.5);
        if (recipients.length === 0) recipients.push(USERS[Math.floor(rand() * USERS.length)]!);
        // Mostly small; some of 200 KB; a few of 2 MB, which go into the spool in chunks while they arrive.
        const size = rand();
        const bytes = size < 0.02 ? 2 * 1024 * 1024 : size < 0.07 ? 200 * 1024 : 1024;
        const outcome = await sendTracked(system.smtpPort, id, recipients, bytes);
        if (outcome === 'accepted') accepted.set(id, recipients);
        else if (outcome === 'unknown') maybeAccepted.add(id);
        else {
          refused++;
          await sleep(100); // a temporary refusal while something restarts (or the spool is full): a little later
        }
      }
    };
    const fetchAndDelete = async (user: string) => {
      // At most 100 messages a session: a maildrop that grew while it was locked (a killed pop3-access's
      // lease lives on for POP3_LEASE_SECONDS) came back, with the 2 MB messages, as more JSON than the
      // client's output may hold (256 MB): deleted on the server after QUIT, lost to the count.
      const result = await poplibFetch(system.pop3Port, user, PASSWORD, { delete: true, limit: 100 }).catch((err: Error) => ({ error: err.message, messages: [] as Buffer[] }));
      const ids = result.messages.map(messageIdOf);
      if (result.error === '') fetched.get(user)!.push(...ids);
      else for (const id of ids) maybeFetched.get(user)!.add(id); // deleted or not: the QUIT's answer was lost
    };
    const reader = async () => {
      while (running) {
        for (const user of USERS) await fetchAndDelete(user);
        await sleep(500);
      }
    };
    /**
     * Fills the spool (nothing leaves it: queue-manager, which hands out every job, is stopped) until intake
     * refuses for a while, then lets delivery drain it.
     */
    const exhaust = async () => {
      const started = Date.now();
      const refusedBefore = refused;
      kills.push('queue-manager (exhaustion)');
      await system.kill('queue-manager');
      const fullBy = Date.now() + 120_000;
      while (refused - refusedBefore < 40 && Date.now() < fullBy) await sleep(250);
      exhaustion.refusedWhileFull = refused - refusedBefore;
      const acceptedBefore = accepted.size;
      const restarted = Date.now();
      await system.start('queue-manager');
      while (accepted.size === acceptedBefore && Date.now() < restarted + 120_000) await sleep(250);
      if (accepted.size > acceptedBefore) exhaustion.acceptingAgainAfterMs = Date.now() - restarted;
      exhaustion.tookMs = Date.now() - started;
    };
    const killer = async () => {
      const deadline = Date.now() + CHAOS_SECONDS * 1000;
      let exhausted = !EXHAUST;
      while (Date.now() < deadline) {
        if (!exhausted && Date.now() > deadline - (CHAOS_SECONDS * 1000) / 2) {
          exhausted = true;
          await exhaust();
          continue;
        }
        await sleep(1500 + rand() * 3000);
        // Every fourth kill is nats-server's (when it runs as a local process), the others a random service's.
        const victim: ServiceName | 'nats-server' =
          kills.length % 4 === 2 && system.nats.crash ? 'nats-server' : SERVICE_NAMES[Math.floor(rand() * SERVICE_NAMES.length)]!;
        kills.push(victim);
        if (victim === 'nats-server') await system.nats.crash!();
        else {
          await system.kill(victim);
          await sleep(rand() * 1500);
          // The supervisor may have started it again meanwhile: it had died by itself before this kill
          // (queue-manager exits when it loses its lease while nats-server is down) and its restart was due.
          if (!system.isRunning(victim)) await system.start(victim);
        }
      }
    };

    const load = [...Array.from({ length: SENDERS }, sender), reader()];
    await killer();
    running = false;
    await Promise.all(load);
    console.log(`chaos: ${kills.length} kills (${kills.join(', ')}); ${accepted.size} accepted, ${maybeAccepted.size} with the answer lost, ${refused} refused`);
    /** What the queue still holds, and what the services complained of, for the report of a failure. */
    const report = async () => {
      console.log('queue at the end:', (await system.mailctl(['queue', 'list', '--json'])).stdout.slice(0, 4000));
      for (const name of SERVICE_NAMES) {
        const complaints = system.services[name].output().split('\n').filter((line) => /"level":(40|50|60)/.test(line));
        console.log(`${name}: last warnings and errors:\n${complaints.slice(-15).join('\n')}`);
      }
    };
    if (EXHAUST) {
      console.log(`chaos: exhaustion cycle: ${exhaustion.refusedWhileFull} refusals with the spool full, accepting again ${exhaustion.acceptingAgainAfterMs} ms after queue-manager came back`);
      if (exhaustion.acceptingAgainAfterMs < 0) await report();
      assert.ok(exhaustion.refusedWhileFull >= 40, `the spool filled up: ${exhaustion.refusedWhileFull} refusals while delivery was stopped`);
      assert.ok(exhaustion.acceptingAgainAfterMs >= 0, 'intake accepted mail again by itself once delivery resumed');
    }
    // About one kill per 3 s of chaos, the exhaustion cycle's time aside: at least one per 5 s.
    assert.ok(kills.length >= Math.floor((CHAOS_SECONDS - exhaustion.tookMs / 1000) / 5), `the killer ran: ${kills.length} kills`);
    assert.ok(accepted.size > 50, `mail flowed during the chaos: ${accepted.size} accepted`);

    // Drain: everything accepted arrives; fetch until each user has seen all of theirs, then a while longer.
    const expected = new Map(USERS.map((u) => [u, new Set([...accepted].filter(([, to]) => to.includes(u)).map(([id]) => id))]));
    const missing = (user: string) => [...expected.get(user)!].filter((id) => !fetched.get(user)!.includes(id) && !maybeFetched.get(user)!.has(id));
    // The backlog left by the chaos is delivered at the machine's pace: a few minutes, more after a long run.
    const until = Date.now() + 180_000 + accepted.size * 10;
    while (USERS.some((u) => missing(u).length > 0) && Date.now() < until) {
      for (const user of USERS) await fetchAndDelete(user);
      await sleep(1000);
    }
    await sleep(3000); // a duplicate, if any, would arrive now
    for (const user of USERS) await fetchAndDelete(user);

    if (USERS.some((u) => missing(u).length > 0)) await report();
    for (const user of USERS) {
      assert.deepEqual(missing(user), [], `${user}: accepted messages never delivered`);
      const seen = new Map<string, number>();
      for (const id of fetched.get(user)!) seen.set(id, (seen.get(id) ?? 0) + 1);
      const duplicated = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
      assert.deepEqual(duplicated, [], `${user}: messages delivered more than once`);
      const strangers = [...seen.keys()].filter((id) => !expected.get(user)!.has(id) && !maybeAccepted.has(id));
      assert.deepEqual(strangers, [], `${user}: messages nobody sent to them`);
    }
  });
});
