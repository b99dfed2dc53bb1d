#!/usr/bin/env node
// Runs the whole platform on this machine with the launcher (libs/launcher): nats-server and the five
// services as processes, embedded store and a self-signed TLS certificate (made on first start) under
// .data/. Every port can be changed by its variable (see LOCAL_PORTS and LOCAL_HTTP_PORTS in
// libs/launcher/src/local-run.ts): SMTP_PORT 2525,
// SMTP_SUBMISSION_PORT 2587, SMTPS_PORT 2465, POP3_PORT 1110, POP3S_PORT 1995, MAILBOX_GRPC_PORT 50051,
// QUEUE_GRPC_PORT 50052, NATS_PORT 4222, and the metrics ports SMTP_HTTP_PORT 9101, QUEUE_HTTP_PORT 9102,
// DELIVERY_HTTP_PORT 9103, MAILBOX_HTTP_PORT 9104, POP3_HTTP_PORT 9105. NATS has a user per service with
// only the permissions of its job (libs/contracts nats-permissions.ts) and no anonymous access: each
// password is made at each start and written to .data/nats-passwords/<service> (mode 0600), the users
// and permissions to .data/nats.conf; gRPC listens on loopback only.
// nats-server always runs as a process of this one, on NATS_PORT and storing in .data/nats, whether or not
// a container engine is installed: the launcher never uses containers.
import { launchMailPlatform, localBanner, localLogSettings, localPorts, localServiceSettings, takenPorts } from '@mail/launcher';

const env = process.env;
const dataDir = env.DATA_DIR ?? new URL('../.data', import.meta.url).pathname;
let ports;
let logs;
try {
  ports = localPorts(env);
  logs = localLogSettings(env, dataDir);
} catch (err) {
  console.error(`local run: ${err.message}`);
  process.exit(78);
}
// Refuse to start next to anything already listening on our ports (another instance, an orphaned
// nats-server), rather than talk to it unknowingly.
const taken = await takenPorts(ports.byVariable);
if (taken.length > 0) {
  for (const line of taken) console.error(`local run: ${line}`);
  console.error('local run: not started; stop what holds these ports, or move ours with the variables named');
  process.exit(1);
}
const say = (line) => console.log(`local run: ${line}`);
// A closed terminal makes writes fail; that must not cut the shutdown short.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

// SIGHUP (the terminal closed) stops everything like Ctrl-C: nats-server must not outlive the run. The
// handlers are in place before anything starts, so that a signal during start-up stops what started.
let system;
let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  if (!system) return; // still starting: stopped as soon as it is up
  await system.stop();
  process.exit(0);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void stop());

// NATS_SYNC=always: nats-server fsyncs every JetStream write before acknowledging it, so a 250 survives
// a power loss of this one machine (its default syncs every two minutes: safe against a crash of the
// process, not of the machine), at a cost in throughput.
let natsConfig = '';
if (env.NATS_SYNC === 'always') {
  natsConfig = 'jetstream {\n  sync_interval: always\n}\n';
} else if (env.NATS_SYNC) {
  console.error(`NATS_SYNC="${env.NATS_SYNC}": expected "always" (or unset for nats-server's default)`);
  process.exit(78);
}

system = await launchMailPlatform({
  dataDir,
  natsConfig,
  ...ports.listeners,
  httpPorts: ports.httpPorts,
  // The services' names, and POP3 logins without TLS on this loopback-only run (localServiceSettings).
  env: localServiceSettings(env),
  echo: env.ECHO_LOGS === '1',
  // Where nats-server runs. Mail authentication (SPF, DKIM, DMARC) asks the machine's resolver, or DNS_SERVERS.
  report: say,
  // A service that dies on its own (a signal, a crash) is started again, with a growing pause.
  supervise: { report: say },
  // Each service's output also goes to .data/logs/<service>.log (rotated), for mailctl logs.
  logs,
});
if (stopping) {
  await system.stop();
  process.exit(0);
}
console.log(localBanner(system, dataDir, logs.dir));
