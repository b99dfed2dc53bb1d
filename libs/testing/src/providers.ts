// The infrastructure tests run against, from one place: nats-server and a MongoDB-compatible server.
// Providers, in order: `external` (MONGODB_URI names a real MongoDB), `testcontainers` (official `nats`
// and `mongo` images, when a container runtime answers a 2 s ping) and `local` (nats-server and FerretDB
// as child processes on free loopback ports). TEST_PROVIDER=local|testcontainers forces one.
// That automatic choice is for the test suites only (`use: 'local'` forces processes, `use: 'containers'`
// containers, for the image suite); the local run does not come here: it stands on libs/launcher, which
// runs nats-server as its own process.
// testcontainers is imported lazily and only after the probe: with an engine that accepts connections
// and never answers, it would otherwise hang for minutes.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { freePort, startNatsServer, startProcess, type RotatingLogFile } from '@mail/launcher';

export { freePort };

export type ProviderKind = 'external' | 'testcontainers' | 'local';
/**
 * What a caller accepts: `auto` (the tests: testcontainers when an engine answers, else processes, unless
 * TEST_PROVIDER says), `local` (always processes) or `containers` (testcontainers; an error without an engine).
 */
export type ProviderUse = 'auto' | 'local' | 'containers';

export interface ProvidedServer {
  /** Connection URL: `nats://…` or `mongodb://…`. */
  url: string;
  provider: ProviderKind;
  stop(): Promise<void>;
  /** kill -9 of the server, then a new one on the same port and data (local processes only; chaos tests). */
  crash?(): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PROBE_TIMEOUT_MS = 2_000;

function say(line: string): void {
  process.stderr.write(`[testing] ${line}\n`);
}

/** Where a Docker-compatible engine would listen: DOCKER_HOST, or the usual socket paths. */
function dockerEndpoints(): Array<{ socketPath: string } | { host: string; port: number }> {
  const dockerHost = process.env.DOCKER_HOST;
  if (dockerHost) {
    if (dockerHost.startsWith('unix://')) return [{ socketPath: dockerHost.slice('unix://'.length) }];
    const tcp = /^tcp:\/\/([^:/]+):(\d+)/.exec(dockerHost);
    return tcp ? [{ host: tcp[1]!, port: Number(tcp[2]) }] : [];
  }
  const sockets = ['/var/run/docker.sock', join(homedir(), '.docker', 'run', 'docker.sock')];
  if (process.env.XDG_RUNTIME_DIR) sockets.push(join(process.env.XDG_RUNTIME_DIR, 'docker.sock'));
  return sockets.filter((path) => existsSync(path)).map((socketPath) => ({ socketPath }));
}

function ping(endpoint: { socketPath: string } | { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ ...endpoint, path: '/_ping', method: 'GET', timeout: PROBE_TIMEOUT_MS }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}

let runtimeProbe: Promise<boolean> | undefined;

/** True when a container engine answers `GET /_ping` within 2 s (probed once per process). */
function engineAnswers(): Promise<boolean> {
  runtimeProbe ??= (async () => {
    for (const endpoint of dockerEndpoints()) if (await ping(endpoint)) return true;
    return false;
  })();
  return runtimeProbe;
}

/** True when the tests may use containers: an engine answers, and TEST_PROVIDER is not `local`. */
export async function containerRuntimeAvailable(): Promise<boolean> {
  return process.env.TEST_PROVIDER !== 'local' && (await engineAnswers());
}

/**
 * testcontainers, imported only once an engine answered (see the top of this file). Its reaper, Ryuk, is
 * off unless TESTCONTAINERS_RYUK_DISABLED says otherwise: Ryuk is an image from Docker Hub, which cannot be
 * pulled everywhere (not here), and every caller stops its containers itself (`stop()`; the image suite
 * checks that none is left). With a local engine, containers are reached on 127.0.0.1, not `localhost`
 * (which may resolve to ::1).
 */
async function importTestcontainers(): Promise<typeof import('testcontainers')> {
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  if (!process.env.DOCKER_HOST || process.env.DOCKER_HOST.startsWith('unix://')) process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';
  return import('testcontainers');
}

async function chooseProvider(use: ProviderUse = 'auto'): Promise<'testcontainers' | 'local'> {
  if (use === 'local') return 'local';
  const available = use === 'containers' ? await engineAnswers() : await containerRuntimeAvailable();
  const required = use === 'containers' ? 'containers were asked for' : process.env.TEST_PROVIDER === 'testcontainers' ? 'TEST_PROVIDER=testcontainers' : undefined;
  if (required && !available) throw new Error(`${required}, but no container runtime answered /_ping within 2 s`);
  return available ? 'testcontainers' : 'local';
}

// --- NATS ---------------------------------------------------------------------------------------------------

export async function startNats(
  options: { storeDir?: string; port?: number; echo?: boolean; extraArgs?: string[]; logFile?: RotatingLogFile; use?: ProviderUse; watch?: (text: string) => void } = {},
): Promise<ProvidedServer> {
  // Options on the command line (credentials, TLS, a configuration file) go to a container only when one
  // was asked for; otherwise they mean the local server.
  if ((options.use === 'containers' || !options.extraArgs?.length) && (await chooseProvider(options.use)) === 'testcontainers') return startNatsContainer(options);
  const ownDir = options.storeDir ? undefined : await mkdtemp(join(tmpdir(), 'nats-'));
  const storeDir = options.storeDir ?? ownDir!;
  const serverOptions = { echo: options.echo, extraArgs: options.extraArgs, logFile: options.logFile, watch: options.watch };
  let server = await startNatsServer(storeDir, { ...serverOptions, port: options.port });
  say(`nats: local nats-server (${server.url})`);
  return {
    url: server.url,
    provider: 'local',
    crash: async () => {
      await server.process.kill();
      server = await startNatsServer(storeDir, { ...serverOptions, port: server.port });
    },
    stop: async () => {
      await server.stop();
      if (ownDir) await rm(ownDir, { recursive: true, force: true });
    },
  };
}

/**
 * NATS in a container (TEST_NATS_IMAGE, default the official `nats:2`) with JetStream in /data. A given
 * `storeDir` is bind-mounted there (and written as this process's uid) and a given `port` is the host port,
 * so that a container keeps the data and the address a process would.
 */
async function startNatsContainer(options: { storeDir?: string; port?: number; extraArgs?: string[] }): Promise<ProvidedServer> {
  const { GenericContainer, Wait } = await importTestcontainers();
  // A configuration file given with -c is mounted into the container at the path it is then given.
  const args = [...(options.extraArgs ?? [])];
  const configAt = args.indexOf('-c') + 1;
  const configFile = configAt > 0 ? args[configAt] : undefined;
  if (configFile) args[configAt] = '/etc/nats-extra.conf';
  let definition = new GenericContainer(process.env.TEST_NATS_IMAGE ?? 'nats:2')
    .withCommand(['-js', '-sd', '/data', ...args])
    .withExposedPorts(options.port ? { container: 4222, host: options.port } : 4222)
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/));
  const mounts: { source: string; target: string; mode?: 'ro' }[] = configFile ? [{ source: configFile, target: '/etc/nats-extra.conf', mode: 'ro' }] : [];
  if (options.storeDir) {
    await mkdir(options.storeDir, { recursive: true });
    mounts.push({ source: options.storeDir, target: '/data' });
    definition = definition.withUser(`${process.getuid!()}:${process.getgid!()}`);
  }
  if (mounts.length > 0) definition = definition.withBindMounts(mounts);
  const container = await definition.start();
  const url = `nats://${container.getHost()}:${container.getMappedPort(4222)}`;
  say(`nats: testcontainers, ${process.env.TEST_NATS_IMAGE ?? 'nats:2'} (${url})`);
  return { url, provider: 'testcontainers', stop: async () => void (await container.stop()) };
}

// --- MongoDB ------------------------------------------------------------------------------------------------

/** FerretDB from FERRETDB_BIN or the project's .tools (built by `scripts/setup.sh --test-tools`). */
export function findFerretDb(): string {
  const candidates = [process.env.FERRETDB_BIN, join(REPO_ROOT, '.tools', 'ferretdb')];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  throw new Error(
    'no MongoDB-compatible server for tests: set MONGODB_URI, run a container engine, or build FerretDB with ' +
      '`scripts/setup.sh --test-tools` (needs Go) or set FERRETDB_BIN',
  );
}

/** Resolves once a MongoDB server at `uri` answers `ping`, or rejects after `timeoutMs`. */
export async function waitForMongo(uri: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 500, connectTimeoutMS: 500 });
    try {
      await client.db('admin').command({ ping: 1 });
      return;
    } catch (err) {
      if (Date.now() > until) throw new Error(`MongoDB at ${uri} did not answer ping within ${timeoutMs} ms: ${String(err)}`);
    } finally {
      await client.close().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A MongoDB-compatible server. Each caller should use its own database name: with MONGODB_URI the server
 * is shared (see `dropMongoDatabase`).
 */
export async function startMongo(options: { echo?: boolean; use?: ProviderUse } = {}): Promise<ProvidedServer> {
  const external = process.env.MONGODB_URI;
  if (external) {
    say('mongo: external server from MONGODB_URI');
    return { url: external, provider: 'external', stop: async () => undefined };
  }
  if ((await chooseProvider(options.use)) === 'testcontainers') {
    const { GenericContainer, Wait } = await importTestcontainers();
    const container = await new GenericContainer(process.env.TEST_MONGO_IMAGE ?? 'mongo:8')
      .withExposedPorts(27017)
      // mongod says "Waiting for connections", FerretDB (TEST_MONGO_IMAGE=…/ferretdb) "Listening on".
      .withWaitStrategy(Wait.forLogMessage(/Waiting for connections|Listening on/))
      .start();
    const url = `mongodb://${container.getHost()}:${container.getMappedPort(27017)}/`;
    await waitForMongo(url);
    say(`mongo: testcontainers, ${process.env.TEST_MONGO_IMAGE ?? 'mongo:8'} (${url})`);
    return { url, provider: 'testcontainers', stop: async () => void (await container.stop()) };
  }
  const binary = findFerretDb();
  const dir = await mkdtemp(join(tmpdir(), 'ferretdb-'));
  const port = await freePort();
  const ferret = startProcess(
    'ferretdb',
    binary,
    [
      '--handler=sqlite',
      `--sqlite-url=file:${dir}/`,
      `--listen-addr=127.0.0.1:${port}`,
      `--state-dir=${dir}`,
      '--telemetry=disable',
      '--debug-addr=-', // no metrics listener: several instances would collide on 8088
      '--log-level=warn',
    ],
    process.env,
    { echo: options.echo },
  );
  const stop = async () => {
    await ferret.stop();
    await rm(dir, { recursive: true, force: true });
  };
  const url = `mongodb://127.0.0.1:${port}/`;
  try {
    await Promise.race([
      waitForMongo(url),
      ferret.exited.then((code) => {
        throw new Error(`ferretdb exited with ${code}:\n${ferret.output()}`);
      }),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  say(`mongo: local FerretDB (${url})`);
  return { url, provider: 'local', stop };
}

/** Drops one test database (what a test leaves behind on a shared MONGODB_URI server). */
export async function dropMongoDatabase(uri: string, database: string): Promise<void> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 2_000 });
  try {
    await client.db(database).dropDatabase();
  } finally {
    await client.close().catch(() => undefined);
  }
}
