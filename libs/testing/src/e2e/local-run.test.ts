// The local run (scripts/local.mjs) as a user meets it, on moved ports: the banner's mailctl invocation
// works as printed, the metrics ports follow their variables, each service's log is in its file and
// `mailctl logs` tells one message's story across the services (and follows new lines), a service killed
// by a signal is restarted with a line saying so, a second run refuses the taken ports naming the variable
// and the holder, and SIGHUP (a closed terminal) stops everything, nats-server included; NATS asks for a
// password, so another local user cannot publish mail.accepted or spool objects (issue 17). All of it with
// DOCKER_HOST pointing at a container engine that answers (a fake one): the local run still runs
// nats-server as its own process and never asks the engine for anything (issue 18).
import { strict as assert } from 'node:assert';
import { exec, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { appendFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { connect as natsConnect } from '@nats-io/transport-node';
import { NATS_SERVICES } from '@mail/contracts';
import { sendOverSmtp } from '../clients.js';
import { LOCAL_HTTP_PORTS, LOCAL_PORTS } from '@mail/launcher';
import { REPO_ROOT } from '../mail-system.js';
import { freePort } from '@mail/launcher';
import { containerRuntimeAvailable } from '../providers.js';

interface LocalRun {
  child: ChildProcess;
  output(): string;
  /** Resolves with the output once `pattern` appears in it (rejects after `timeoutMs` or on exit). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  exited: Promise<number | null>;
}

function startLocalRun(env: Record<string, string>): LocalRun {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'local.mjs')], { cwd: REPO_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const listeners = new Set<() => void>();
  const keep = (data: Buffer) => {
    output += data.toString();
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(output);
          if (!match) return;
          done();
          resolve(match);
        };
        const timer = setTimeout(() => (done(), reject(new Error(`no ${pattern} in:\n${output}`))), timeoutMs);
        void exited.then(() => setImmediate(() => (check(), done(), reject(new Error(`local run exited before ${pattern}:\n${output}`)))));
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
  };
}

/** The child processes of a process, with their command lines. */
function childrenOf(pid: number): Array<{ pid: number; command: string }> {
  const pids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return pids.map((child) => ({ pid: child, command: readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').join(' ') }));
}

/**
 * A fake Docker engine on a unix socket: `/_ping` answers OK (what makes the test providers choose
 * containers), anything else fails as a pull does where Docker Hub is unreachable. Records each request.
 */
async function fakeEngine(socketPath: string): Promise<{ server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (/\/_ping$/.test(req.url ?? '')) res.end('OK');
    else res.writeHead(500, { 'content-type': 'application/json' }).end('{"message":"registry unreachable"}');
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return { server, requests };
}

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

describe('the local run on moved ports', () => {
  let run: LocalRun;
  let dataDir: string;
  let engine: Awaited<ReturnType<typeof fakeEngine>>;
  const env: Record<string, string> = {};

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'local-run-'));
    engine = await fakeEngine(join(dataDir, 'docker.sock'));
    env.DOCKER_HOST = `unix://${join(dataDir, 'docker.sock')}`;
    for (const { variable } of [...Object.values(LOCAL_PORTS), ...Object.values(LOCAL_HTTP_PORTS)]) env[variable] = String(await freePort());
    env.DATA_DIR = dataDir;
    // Durable against power loss too (nats-server fsyncs every write): the mail test below runs on it.
    env.NATS_SYNC = 'always';
    run = startLocalRun(env);
    await run.waitFor(/^Stop with Ctrl-C\.$/m);
  });

  test('NATS_SYNC=always gives nats-server sync_interval: always', () => {
    const nats = childrenOf(run.child.pid!).find((child) => /nats-server/.test(child.command));
    assert.ok(nats, 'nats-server runs as a child of the local run');
    const conf = /-c (\S+)/.exec(nats.command)?.[1];
    assert.ok(conf, `nats-server was given a configuration file: ${nats.command}`);
    assert.match(readFileSync(conf, 'utf8'), /sync_interval: always/);
  });
  after(async () => {
    if (run?.child.exitCode === null) {
      run.child.kill('SIGINT');
      await run.exited;
    }
    engine?.server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('with an engine on DOCKER_HOST, nats-server is still a process of the run and the engine is never asked', async () => {
    const nats = childrenOf(run.child.pid!).find((c) => c.command.includes('nats-server'));
    assert.ok(nats, 'nats-server is a child of the run');
    assert.match(nats.command, new RegExp(`-p ${env.NATS_PORT}\\b.*-sd ${dataDir}/nats|-sd ${dataDir}/nats.*-p ${env.NATS_PORT}\\b`), 'on NATS_PORT, storing in DATA_DIR/nats');
    assert.match(run.output(), /nats: local nats-server/);
    assert.deepEqual(engine.requests, [], 'the run did not even ping the engine');
    process.env.DOCKER_HOST = env.DOCKER_HOST;
    assert.equal(await containerRuntimeAvailable(), true, 'the fake engine answers as a real one: the tests would have picked containers');
  });

  test('the banner\'s mailctl invocation works as printed', async () => {
    const [, command] = (await run.waitFor(/^Look at the queue: +(.+)$/m)) as unknown as [string, string];
    assert.equal(command, `npx mailctl --mailbox-store 127.0.0.1:${env.MAILBOX_GRPC_PORT} --queue-manager 127.0.0.1:${env.QUEUE_GRPC_PORT} queue list`);
    const { stdout } = await promisify(exec)(command, { cwd: REPO_ROOT });
    assert.equal(stdout, 'mail queue is empty\n');
    assert.match(run.output(), new RegExp(`^mailctl on these ports: +export MAILBOX_STORE_ADDRESS=127\\.0\\.0\\.1:${env.MAILBOX_GRPC_PORT} QUEUE_ADMIN_ADDRESS=127\\.0\\.0\\.1:${env.QUEUE_GRPC_PORT} `, 'm'));
  });

  test('each service\'s metrics are on the port its variable names', async () => {
    for (const [service, { variable }] of Object.entries(LOCAL_HTTP_PORTS)) {
      const response = await fetch(`http://127.0.0.1:${env[variable]}/metrics`);
      assert.equal(response.status, 200, `${service} on ${variable}`);
      await response.text();
      assert.match(run.output(), new RegExp(`${service}=http://127\\.0\\.0\\.1:${env[variable]}/metrics`));
    }
  });

  test('each service logs to its file, and mailctl logs --queue-id tells one message\'s story across the services', async () => {
    const mailctl = (args: string, stdin = '') => {
      const child = exec(`node apps/mailctl/dist/main.js --mailbox-store 127.0.0.1:${env.MAILBOX_GRPC_PORT} --queue-manager 127.0.0.1:${env.QUEUE_GRPC_PORT} ${args}`, { cwd: REPO_ROOT });
      child.stdin!.end(stdin);
      let stdout = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      return new Promise<string>((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`mailctl ${args}: ${code}`)))));
    };
    await mailctl('domain add example.test');
    await mailctl('user add alice@example.test', 'a long enough password\n');
    const logDir = join(dataDir, 'logs');
    for (const service of ['nats-server', 'mailbox-store', 'queue-manager', 'delivery-agent', 'smtp-ingress', 'pop3-access']) assert.ok(existsSync(join(logDir, `${service}.log`)), service);
    assert.match(run.output(), new RegExp(`^Logs: +${logDir}/<service>\\.log; npx mailctl logs --log-dir ${logDir} \\[--service S\\]`, 'm'));

    const follower = spawn(process.execPath, ['apps/mailctl/dist/main.js', 'logs', '--log-dir', logDir, '--service', 'smtp-ingress', '--follow', '--lines', '0'], { cwd: REPO_ROOT });
    let followed = '';
    follower.stdout.on('data', (d: Buffer) => (followed += d.toString()));
    // Following from now on (--lines 0): wait until it shows a line written after it started, however
    // long a loaded machine takes to start it.
    const followingUntil = Date.now() + 30_000;
    while (!followed.includes('follow-check') && Date.now() < followingUntil) {
      appendFileSync(join(logDir, 'smtp-ingress.log'), `${JSON.stringify({ level: 30, time: Date.now(), msg: 'follow-check' })}\n`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }

    const queueId = await sendOverSmtp(Number(env.SMTP_PORT), { from: 'bob@elsewhere.test', to: 'alice@example.test' }, 'Subject: story\r\n\r\nhello\r\n');
    const story = async () => mailctl(`logs --log-dir ${logDir} --queue-id ${queueId}`);
    const until = Date.now() + 30_000;
    while (!/ mailbox-store info job done/.test(await story()) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 200));
    const lines = (await story()).trimEnd().split('\n');
    assert.ok(lines.every((line) => line.includes(queueId)), lines.join('\n'));
    const sources = lines.map((line) => line.split(' ')[1]);
    // Local mail: mailbox-store takes the local lane's job itself (delivered, then job done).
    for (const service of ['smtp-ingress', 'queue-manager', 'mailbox-store']) assert.ok(sources.includes(service), `${service} in:\n${lines.join('\n')}`);
    assert.equal(sources[0], 'smtp-ingress', 'the story starts where the message came in');
    assert.deepEqual([...lines].sort((a, b) => a.split(' ')[0]!.localeCompare(b.split(' ')[0]!)), lines, 'in time order');

    const followUntil = Date.now() + 10_000;
    while (!followed.includes(queueId) && Date.now() < followUntil) await new Promise((resolve) => setTimeout(resolve, 100));
    follower.kill('SIGINT');
    assert.match(followed, new RegExp(`^\\S+ smtp-ingress info .*queueId=${queueId}`, 'm'));
    assert.doesNotMatch(followed, /queue-manager/);
  });

  test('a service killed by a signal is restarted after a pause, with a line saying so', async () => {
    const agent = childrenOf(run.child.pid!).find((c) => c.command.includes('delivery-agent/dist/main.js'));
    assert.ok(agent, 'delivery-agent is a child of the run');
    process.kill(agent.pid, 'SIGKILL');
    await run.waitFor(/^local run: delivery-agent killed by SIGKILL; restarting in 1 s$/m);
    const [, pid] = (await run.waitFor(/^local run: delivery-agent restarted \(pid (\d+)\)$/m)) as unknown as [string, string];
    assert.notEqual(Number(pid), agent.pid);
    assert.equal((await fetch(`http://127.0.0.1:${env.DELIVERY_HTTP_PORT}/readyz`)).status, 200);
  });

  test('NATS refuses a client without a password; each service has a user of its own, its password in a file only the owner reads', async () => {
    const natsUrl = /NATS\s+(nats:\/\/\S+)/.exec(run.output())![1]!;
    await assert.rejects(natsConnect({ servers: natsUrl, reconnect: false, timeout: 5000 }), /Authorization|auth/i);
    assert.equal(statSync(join(dataDir, 'nats-passwords')).mode & 0o777, 0o700);
    for (const service of NATS_SERVICES) {
      const file = join(dataDir, 'nats-passwords', service);
      assert.equal(statSync(file).mode & 0o777, 0o600, file);
      const password = (await readFile(file, 'utf8')).trim();
      const nc = await natsConnect({ servers: natsUrl, user: service, pass: password, reconnect: false, timeout: 5000 });
      await nc.close();
      await assert.rejects(natsConnect({ servers: natsUrl, user: service, pass: `${password}x`, reconnect: false, timeout: 5000 }), /Authorization|auth/i);
    }
    assert.equal(statSync(join(dataDir, 'nats.conf')).mode & 0o777, 0o600, 'the configuration with the passwords');
  });

  test('a second run on the same ports refuses to start, naming each variable and what holds the port', async () => {
    const second = startLocalRun({ ...env, DATA_DIR: join(dataDir, 'second') });
    assert.equal(await second.exited, 1);
    const output = second.output();
    assert.match(output, new RegExp(`^local run: SMTP_PORT=${env.SMTP_PORT}: 127\\.0\\.0\\.1:${env.SMTP_PORT} is already in use by pid \\d+ \\(\\S*node (?:--\\S+ )*\\S*apps/smtp-ingress/dist/main\\.js\\)$`, 'm'));
    assert.match(output, new RegExp(`^local run: NATS_PORT=${env.NATS_PORT}: .* in use by pid \\d+ \\(\\S*nats-server `, 'm'));
    assert.match(output, /^local run: not started; /m);
    assert.doesNotMatch(output, /mail platform running/);
  });

  test('SIGHUP stops the run like Ctrl-C, nats-server included', async () => {
    const children = childrenOf(run.child.pid!);
    const nats = children.find((c) => c.command.includes('nats-server'));
    assert.ok(nats, 'nats-server is a child of the run');
    run.child.kill('SIGHUP');
    assert.equal(await run.exited, 0);
    assert.match(run.output(), /^local run: stopping…$/m);
    for (const child of children) assert.equal(alive(child.pid), false, `${child.command} outlived the run`);
  });
});
