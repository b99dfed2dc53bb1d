#!/usr/bin/env node
// Runs the whole platform on this machine: nats-server and the five services, embedded store under
// .data/. Ports: SMTP_PORT (2525), POP3_PORT (1110), MAILBOX_GRPC_PORT (50051), NATS_PORT (4222).
import { startMailSystem } from '@mail/testing';

const env = process.env;
const dataDir = env.DATA_DIR ?? new URL('../.data', import.meta.url).pathname;
const system = await startMailSystem({
  dataDir,
  smtpPort: Number(env.SMTP_PORT ?? 2525),
  pop3Port: Number(env.POP3_PORT ?? 1110),
  grpcPort: Number(env.MAILBOX_GRPC_PORT ?? 50051),
  natsPort: Number(env.NATS_PORT ?? 4222),
  env: {
    SMTP_SERVER_NAME: env.SMTP_SERVER_NAME ?? 'localhost',
    POP3_SERVER_NAME: env.POP3_SERVER_NAME ?? 'localhost',
  },
  echo: env.ECHO_LOGS === '1',
});
console.log(`mail platform running (data in ${dataDir})
  SMTP          127.0.0.1:${system.smtpPort}
  POP3          127.0.0.1:${system.pop3Port}
  mailbox-store gRPC ${system.grpcAddress}   (npx mailctl --mailbox-store ${system.grpcAddress} ...)
  NATS          ${system.natsUrl}
  metrics       ${Object.entries(system.httpPorts).map(([name, port]) => `${name}=http://127.0.0.1:${port}/metrics`).join('\n                ')}
Add a domain and a user:  npx mailctl domain add example.test && npx mailctl user add alice@example.test
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
