// The local run's banner: where everything listens, and the mailctl invocation for its ports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { localBanner, mailctlCommand } from './local-run.js';
import type { MailSystem } from './mail-system.js';

const system = (grpcAddress: string, queueAdminAddress: string) =>
  ({
    smtpPort: 2525,
    submissionPort: 2587,
    smtpsPort: 2465,
    pop3Port: 1110,
    pop3sPort: 1995,
    tlsCertFile: '/d/tls/cert.pem',
    grpcAddress,
    queueAdminAddress,
    natsUrl: 'nats://127.0.0.1:4222',
    httpPorts: { 'smtp-ingress': 9101 },
  }) as unknown as MailSystem;

test('on the default ports mailctl needs no options', () => {
  assert.equal(mailctlCommand('127.0.0.1:50051', '127.0.0.1:50052'), 'npx mailctl');
  const banner = localBanner(system('127.0.0.1:50051', '127.0.0.1:50052'), '/d');
  assert.match(banner, /^Look at the queue: +npx mailctl queue list$/m);
  assert.doesNotMatch(banner, /MAILBOX_STORE_ADDRESS/);
});

test('on moved ports the banner gives the exact invocation, with options and as variables', () => {
  assert.equal(mailctlCommand('127.0.0.1:6051', '127.0.0.1:50052'), 'npx mailctl --mailbox-store 127.0.0.1:6051');
  const banner = localBanner(system('127.0.0.1:6051', '127.0.0.1:6052'), '/d');
  assert.match(banner, /^Add a domain and a user: +npx mailctl --mailbox-store 127\.0\.0\.1:6051 --queue-manager 127\.0\.0\.1:6052 domain add example\.test && npx mailctl --mailbox-store 127\.0\.0\.1:6051 --queue-manager 127\.0\.0\.1:6052 user add alice@example\.test$/m);
  assert.match(banner, /^Look at the queue: +npx mailctl --mailbox-store 127\.0\.0\.1:6051 --queue-manager 127\.0\.0\.1:6052 queue list$/m);
  assert.match(banner, /^mailctl on these ports: +export MAILBOX_STORE_ADDRESS=127\.0\.0\.1:6051 QUEUE_ADMIN_ADDRESS=127\.0\.0\.1:6052 /m);
});
