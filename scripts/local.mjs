#!/usr/bin/env node
// Runs the whole platform on this machine: nats-server and the five services, embedded store and a
// self-signed TLS certificate (made on first start) under .data/. Every port can be changed:
// SMTP_PORT 2525, SMTP_SUBMISSION_PORT 2587, SMTPS_PORT 2465, POP3_PORT 1110, POP3S_PORT 1995,
// MAILBOX_GRPC_PORT 50051, QUEUE_GRPC_PORT 50052, NATS_PORT 4222. NATS asks for a password, made at each
// start and written to .data/nats-password (nobody else on this machine may publish mail.accepted), and
// gRPC listens on loopback only.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMailSystem } from '@mail/testing';

const env = process.env;
const port = (name, fallback) => Number(env[name] ?? fallback);
const dataDir = env.DATA_DIR ?? new URL('../.data', import.meta.url).pathname;
const natsPasswordFile = join(dataDir, 'nats-password');
const natsPassword = randomBytes(24).toString('base64url');
mkdirSync(dataDir, { recursive: true });
writeFileSync(natsPasswordFile, `${natsPassword}\n`, { mode: 0o600 });
chmodSync(natsPasswordFile, 0o600);
const system = await startMailSystem({
  dataDir,
  smtpPort: port('SMTP_PORT', 2525),
  submissionPort: port('SMTP_SUBMISSION_PORT', 2587),
  smtpsPort: port('SMTPS_PORT', 2465),
  pop3Port: port('POP3_PORT', 1110),
  pop3sPort: port('POP3S_PORT', 1995),
  grpcPort: port('MAILBOX_GRPC_PORT', 50051),
  queueGrpcPort: port('QUEUE_GRPC_PORT', 50052),
  natsPort: port('NATS_PORT', 4222),
  natsArgs: ['--user', 'mail', '--pass', natsPassword],
  env: {
    NATS_USER: 'mail',
    NATS_PASSWORD: natsPassword,
    SMTP_SERVER_NAME: env.SMTP_SERVER_NAME ?? 'localhost',
    POP3_SERVER_NAME: env.POP3_SERVER_NAME ?? 'localhost',
    QUEUE_REPORTING_MTA: env.SMTP_SERVER_NAME ?? 'localhost',
    // The local run listens on loopback only, so POP3 logins without TLS are allowed here for any
    // client (as Dovecot allows them from localhost); the services' own default, used in deploy/, is
    // to refuse them before STLS. POP3_ALLOW_PLAINTEXT_AUTH=false gives the production behaviour.
    POP3_ALLOW_PLAINTEXT_AUTH: env.POP3_ALLOW_PLAINTEXT_AUTH ?? 'true',
  },
  echo: env.ECHO_LOGS === '1',
});
console.log(`mail platform running (data in ${dataDir})
  SMTP            127.0.0.1:${system.smtpPort}   (MX: mail for local domains; STARTTLS)
  submission      127.0.0.1:${system.submissionPort}   (STARTTLS, then AUTH PLAIN/LOGIN)
  SMTPS           127.0.0.1:${system.smtpsPort}   (implicit TLS, AUTH)
  POP3            127.0.0.1:${system.pop3Port}   (USER/PASS or AUTH PLAIN; STLS offered)
  POP3S           127.0.0.1:${system.pop3sPort}   (implicit TLS)
  TLS certificate ${system.tlsCertFile} (self-signed)
  mailbox-store   gRPC ${system.grpcAddress}
  queue-manager   admin gRPC ${system.queueAdminAddress}
  NATS            ${system.natsUrl}   (user mail, password in ${natsPasswordFile})
  metrics         ${Object.entries(system.httpPorts).map(([name, p]) => `${name}=http://127.0.0.1:${p}/metrics`).join('\n                  ')}
Add a domain and a user:  npx mailctl domain add example.test && npx mailctl user add alice@example.test
Look at the queue:        npx mailctl queue list
Stop with Ctrl-C.`);
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log('stopping…');
    await system.stop();
    process.exit(0);
  });
}
