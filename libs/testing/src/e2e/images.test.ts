// The container images as deploy/ runs them (issue 18). scripts/images.sh builds them (once per run;
// layer cache), then scripts/containers.sh runs the five services, NATS and FerretDB on a user-defined
// Docker network with deploy/'s settings: the env files of deploy/k8s/base/config and the example NATS
// credentials, nats.conf without its cluster block (one node), MAIL_STORE=mongo on FerretDB, uid 1000,
// read-only root filesystems with a tmpfs on /tmp, no capabilities; SMTP and POP3 published on 127.0.0.1.
// Checked: each image holds production dependencies only and no test code; mail goes in over SMTP and
// out over POP3; `docker kill` of each service in turn under load, then `docker restart` of each, loses
// and duplicates nothing; `docker stop` (SIGTERM) drains smtp-ingress as the graceful-shutdown suite
// expects. Then the test providers' testcontainers path on the same NATS and FerretDB images.
// Opt-in (MAIL_IMAGE_TESTS=1; .ci/run sets it where an engine already answers): a cold build takes
// minutes. Skipped with the reason where no engine can be started (not root, no docker.io).
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { MongoClient } from 'mongodb';
import { poplibFetch, RawClient } from '../clients.js';
import { REPO_ROOT, SERVICE_NAMES, type ServiceName } from '../mail-system.js';
import { freePort } from '@mail/launcher';
import { startMongo, startNats } from '../providers.js';
import { messageIdOf, PASSWORD, sendTracked, waitForMessageCount } from './helpers.js';

const PREFIX = process.env.IMAGE_PREFIX ?? 'mail-local';
const TAG = process.env.IMAGE_TAG ?? 'dev';
const RUN = `mail-img-${randomBytes(3).toString('hex')}`;
const USER = 'alice@example.test';

/** Why the suite does not run, or undefined once the images are built and the system is up. */
let unavailable: string | undefined =
  process.env.MAIL_IMAGE_TESTS === '1' ? undefined : 'the image suite is opt-in: MAIL_IMAGE_TESTS=1 builds the images (scripts/images.sh) and runs them';
const dockerEnv: NodeJS.ProcessEnv = { ...process.env };

function run(command: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { env: options.env ?? dockerEnv, cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(options.input ?? '');
  });
}

async function docker(...args: string[]): Promise<string> {
  const result = await run('docker', args);
  if (result.code !== 0) throw new Error(`docker ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.trim();
}

const skipIfUnavailable = (t: TestContext): boolean => {
  if (unavailable) t.skip(unavailable);
  return unavailable !== undefined;
};

// --- the system on a Docker network (scripts/containers.sh) ---------------------------------------------

/** Host ports (127.0.0.1) of the published container ports, fixed so that they survive restarts. */
const published: { smtp: number; pop3: number; http: Partial<Record<ServiceName, number>> } = { smtp: 0, pop3: 0, http: {} };
const HTTP_PORT_VARIABLES: Record<ServiceName, string> = { 'smtp-ingress': 'SMTP_HTTP_PORT', 'queue-manager': 'QUEUE_HTTP_PORT', 'delivery-agent': 'DELIVERY_HTTP_PORT', 'mailbox-store': 'MAILBOX_HTTP_PORT', 'pop3-access': 'POP3_HTTP_PORT' };
const containerOf = (name: string) => `${RUN}-${name}`;
/** What the test changes from deploy/'s settings: redelivery after a killed consumer in seconds, not a minute. */
const TEST_SETTINGS = 'DELIVERY_ACK_WAIT_MS=5000 QUEUE_LOCAL_JOB_TIMEOUT=5000 QUEUE_ACK_WAIT_MS=5000';
/** How deploy/ runs every workload (as scripts/containers.sh does): uid 1000, read-only root, /tmp, no capabilities. */
const LOCKED_DOWN = ['--user', '1000:1000', '--read-only', '--tmpfs', '/tmp:mode=1777', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'];
let systemUp = false;

const containersScript = (command: 'up' | 'down') =>
  run('bash', ['scripts/containers.sh', command], {
    env: {
      ...dockerEnv,
      MAIL_CONTAINERS: RUN,
      IMAGE_PREFIX: PREFIX,
      IMAGE_TAG: TAG,
      SMTP_PORT: String(published.smtp),
      POP3_PORT: String(published.pop3),
      MAIL_EXTRA_ENV: TEST_SETTINGS,
      ...Object.fromEntries(SERVICE_NAMES.map((name) => [HTTP_PORT_VARIABLES[name], String(published.http[name])])),
    },
  });

/**
 * The status of GET /readyz, 0 without an answer. Not fetch(): on a published port whose container does
 * not listen yet, docker-proxy accepts and the fetch never settles, with nothing keeping node's loop alive.
 */
function readyz(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/readyz', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
    req.end();
  });
}

async function waitReady(name: ServiceName, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if ((await readyz(published.http[name]!)) === 200) return;
    if (Date.now() > until) throw new Error(`${name} not ready after ${timeoutMs} ms:\n${await docker('logs', '--tail', '30', containerOf(name)).catch(String)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function startSystem(): Promise<void> {
  published.smtp = await freePort();
  published.pop3 = await freePort();
  for (const name of SERVICE_NAMES) published.http[name] = await freePort();
  systemUp = true;
  const up = await containersScript('up');
  assert.equal(up.code, 0, `scripts/containers.sh up:\n${up.stderr}`);
  const mailctl = async (args: string[], input = '') => {
    // mailctl administers with its own certificate (gRPC is mutual TLS, and only mailctl may administer).
    const identity = ['-e', 'GRPC_TLS_CERT_FILE=/etc/mail/mailctl/tls.crt', '-e', 'GRPC_TLS_KEY_FILE=/etc/mail/mailctl/tls.key'];
    const result = await run('docker', ['exec', '-i', ...identity, containerOf('mailbox-store'), 'node', 'apps/mailctl/dist/main.js', ...args], { input });
    assert.equal(result.code, 0, `mailctl ${args.join(' ')}: ${result.stderr}`);
  };
  await mailctl(['domain', 'add', 'example.test']);
  await mailctl(['user', 'add', USER], `${PASSWORD}\n`);
}

before(async () => {
  if (unavailable) return;
  const engine = await run('bash', ['scripts/images.sh', '--engine-only'], { env: process.env });
  if (engine.code === 3) {
    unavailable = `no container engine: ${engine.stderr.trim().split('\n').at(-1)}`;
    return;
  }
  assert.equal(engine.code, 0, engine.stderr);
  const host = /^DOCKER_HOST=(.*)$/m.exec(engine.stdout)?.[1];
  if (host) dockerEnv.DOCKER_HOST = host;
  const started = Date.now();
  const build = await run('bash', ['scripts/images.sh'], { env: dockerEnv });
  assert.equal(build.code, 0, `scripts/images.sh failed:\n${build.stderr}`);
  process.stderr.write(`[images] scripts/images.sh took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  await startSystem();
});

after(async () => {
  if (systemUp) await containersScript('down');
});

/** Every message of the maildrop, by Message-ID, once delivery has caught up with `expected` (0: as it is now). */
async function maildrop(expected: number): Promise<Map<string, number>> {
  if (expected > 0) await waitForMessageCount({ pop3Port: published.pop3 }, USER, expected, 180_000);
  await new Promise((r) => setTimeout(r, 3000)); // duplicates, if any, would show up now
  const fetched = await poplibFetch(published.pop3, USER, PASSWORD);
  assert.equal(fetched.error, '', fetched.error);
  const counts = new Map<string, number>();
  for (const message of fetched.messages) counts.set(messageIdOf(message), (counts.get(messageIdOf(message)) ?? 0) + 1);
  return counts;
}

describe('the images', () => {
  test('each service image: uid 1000, production dependencies only, no test code, no npm configuration', async (t) => {
    if (skipIfUnavailable(t)) return;
    const check = `
      const fs = require('node:fs'), path = require('node:path');
      const found = [];
      const walk = (dir) => { for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p); else if (/\\.test(-support)?\\.(js|d\\.ts)$|^\\.npmrc$/.test(e.name) && !p.includes('/node_modules/')) found.push(p);
      } };
      walk('/app');
      for (const f of ['/root/.npmrc', '/home/node/.npmrc', '/etc/npmrc', '/usr/local/etc/npmrc', '/usr/local/lib/node_modules/npm/npmrc']) if (fs.existsSync(f)) found.push(f);
      for (const m of ['testcontainers', 'typescript', 'nx', 'ts-proto', '@bufbuild/buf', 'kubernetes-models', '@mail/testing/package.json', '@mail/deploy-check/package.json'])
        if (fs.existsSync('node_modules/' + m)) found.push('node_modules/' + m);
      for (const d of ['libs/testing', 'libs/mime/dist/testing', 'tools', 'apps/smtp-ingress/src', 'libs/platform/src', 'proto']) if (fs.existsSync(d)) found.push(d);
      console.log(JSON.stringify({ uid: process.getuid(), found }));`;
    const sizes: string[] = [];
    for (const name of SERVICE_NAMES) {
      const image = `${PREFIX}/${name}:${TAG}`;
      assert.equal(await docker('image', 'inspect', '-f', '{{.Config.User}}', image), '1000:1000', image);
      const result = JSON.parse(await docker('run', '--rm', ...LOCKED_DOWN, '--entrypoint', 'node', image, '-e', check)) as { uid: number; found: string[] };
      assert.deepEqual(result, { uid: 1000, found: [] }, image);
      sizes.push(`${name} ${(Number(await docker('image', 'inspect', '-f', '{{.Size}}', image)) / 1e6).toFixed(0)} MB`);
    }
    for (const image of [`${PREFIX}/nats:2.15.2`, `${PREFIX}/ferretdb:1.24.0`]) {
      assert.equal(await docker('image', 'inspect', '-f', '{{.Config.User}}', image), '1000:1000', image);
      sizes.push(`${image} ${(Number(await docker('image', 'inspect', '-f', '{{.Size}}', image)) / 1e6).toFixed(0)} MB`);
    }
    t.diagnostic(`image sizes: ${sizes.join(', ')}`);
  });

  test('mail in over the published SMTP port arrives over the published POP3 port', async (t) => {
    if (skipIfUnavailable(t)) return;
    assert.equal(await sendTracked(published.smtp, 'first@img.test', [USER], 500), 'accepted');
    const counts = await maildrop(1);
    assert.deepEqual([...counts], [['first@img.test', 1]]);
  });

  test('docker kill of each service in turn under load, then docker restart of each: nothing lost, nothing duplicated', async (t) => {
    if (skipIfUnavailable(t)) return;
    const outcomes = new Map<string, 'accepted' | 'refused' | 'unknown'>();
    let loading = true;
    let n = 0;
    const loader = async () => {
      while (loading) {
        const id = `load-${n++}@img.test`;
        outcomes.set(id, await sendTracked(published.smtp, id, [USER], 1000));
        // About 8 messages a second in all: mailbox-store on FerretDB (SQLite) stores a few dozen a second,
        // and the maildrop must catch up within the test.
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const loaders = [loader(), loader()];
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    for (const name of SERVICE_NAMES) {
      await pause(1500);
      await docker('kill', containerOf(name));
      await pause(1000);
      await docker('start', containerOf(name));
      await waitReady(name);
    }
    for (const name of SERVICE_NAMES) {
      await pause(1000);
      await docker('restart', '-t', '45', containerOf(name));
      await waitReady(name);
    }
    await pause(1500);
    loading = false;
    await Promise.all(loaders);
    const accepted = [...outcomes].filter(([, o]) => o === 'accepted').map(([id]) => id);
    const unknown = new Set([...outcomes].filter(([, o]) => o === 'unknown').map(([id]) => id));
    t.diagnostic(`${outcomes.size} sent: ${accepted.length} accepted, ${unknown.size} unknown`);
    assert.ok(accepted.length >= 100, `only ${accepted.length} accepted`);
    const counts = await maildrop(1 + accepted.length);
    counts.delete('first@img.test');
    for (const id of accepted) assert.equal(counts.get(id), 1, `${id} (accepted) arrived ${counts.get(id) ?? 0} times`);
    for (const [id, count] of counts) {
      assert.ok(outcomes.get(id) === 'accepted' || (unknown.has(id) && count === 1), `${id} (${outcomes.get(id)}) arrived ${count} times`);
    }
  });

  test('docker stop (SIGTERM) drains smtp-ingress: the session in DATA gets its 250, then 421; a clean exit', async (t) => {
    if (skipIfUnavailable(t)) return;
    const before = await maildrop(0);
    const busy = await RawClient.connect(published.smtp);
    await busy.reply();
    await busy.command('EHLO busy.test');
    await busy.command('MAIL FROM:<a@remote.test>');
    await busy.command(`RCPT TO:<${USER}>`);
    assert.match(await busy.command('DATA'), /^354/);
    busy.send('Subject: in flight\r\nMessage-ID: <drain@img.test>\r\n\r\nfirst half\r\n');
    const stopped = docker('stop', '-t', '45', containerOf('smtp-ingress'));
    await new Promise((r) => setTimeout(r, 1000));
    busy.send('second half\r\n.\r\n');
    assert.match(await busy.reply(), /^250 2\.0\.0 OK: queued as /);
    assert.match(await busy.reply(), /^421 4\.3\.2 /);
    await stopped;
    assert.equal(await docker('inspect', '-f', '{{.State.ExitCode}}', containerOf('smtp-ingress')), '0', 'a clean exit, not the SIGKILL after the grace period');
    const counts = await maildrop([...before.values()].reduce((a, b) => a + b, 0) + 1);
    assert.equal(counts.get('drain@img.test'), 1);
    await docker('start', containerOf('smtp-ingress'));
    await waitReady('smtp-ingress');
  });
});

describe('testcontainers on the local images (TEST_NATS_IMAGE, TEST_MONGO_IMAGE)', () => {
  const withEnv = async <T>(fn: () => Promise<T>): Promise<T> => {
    const saved = { ...process.env };
    Object.assign(process.env, { DOCKER_HOST: dockerEnv.DOCKER_HOST, TEST_NATS_IMAGE: `${PREFIX}/nats:2.15.2`, TEST_MONGO_IMAGE: `${PREFIX}/ferretdb:1.24.0` });
    try {
      return await fn();
    } finally {
      for (const key of ['DOCKER_HOST', 'TEST_NATS_IMAGE', 'TEST_MONGO_IMAGE']) if (saved[key] === undefined) delete process.env[key]; else process.env[key] = saved[key];
    }
  };
  const containersOf = async (image: string) => docker('ps', '-aq', '--filter', `ancestor=${image}`);

  test('NATS: a JetStream stream works in the container, and stop() leaves no container behind', async (t) => {
    if (skipIfUnavailable(t)) return;
    const before = await containersOf(`${PREFIX}/nats:2.15.2`);
    const server = await withEnv(() => startNats({ use: 'containers' }));
    try {
      assert.equal(server.provider, 'testcontainers');
      assert.match(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
      const nc = await connect({ servers: server.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'PROBE', subjects: ['probe.>'] });
      await jetstream(nc).publish('probe.one', 'hello');
      assert.equal((await jsm.streams.info('PROBE')).state.messages, 1);
      await nc.close();
    } finally {
      await server.stop();
    }
    assert.equal(await containersOf(`${PREFIX}/nats:2.15.2`), before);
  });

  test('FerretDB: documents round-trip in the container, and stop() leaves no container behind', async (t) => {
    if (skipIfUnavailable(t)) return;
    const before = await containersOf(`${PREFIX}/ferretdb:1.24.0`);
    const server = await withEnv(() => startMongo({ use: 'containers' }));
    try {
      assert.equal(server.provider, 'testcontainers');
      const client = new MongoClient(server.url, { serverSelectionTimeoutMS: 5000 });
      await client.db('probe').collection('c').insertOne({ _id: 'x' as never, n: 1 });
      assert.equal((await client.db('probe').collection('c').findOne({}))?.n, 1);
      await client.close();
    } finally {
      await server.stop();
    }
    assert.equal(await containersOf(`${PREFIX}/ferretdb:1.24.0`), before);
  });
});
