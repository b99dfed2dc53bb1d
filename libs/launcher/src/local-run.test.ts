// The local run: its ports (each from its variable, the metrics ones by default those the shipped
// Prometheus configuration scrapes), and its banner with the mailctl invocation for its ports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { localBanner, localPorts, mailctlCommand } from './local-run.js';
import { REPO_ROOT, restartPauseMs, type MailPlatform } from './launch.js';

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
    natsAuth: { passwords: { 'smtp-ingress': 'x' }, passwordDir: '/d/nats-passwords' },
    httpPorts: { 'smtp-ingress': 9101 },
  }) as unknown as MailPlatform;

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

test('the metrics ports default to the targets of the mailplatform-local job in deploy/observability/prometheus.yml', () => {
  const yml = readFileSync(join(REPO_ROOT, 'deploy/observability/prometheus.yml'), 'utf8');
  const job = yml.slice(yml.indexOf('job_name: mailplatform-local'));
  const scraped = Object.fromEntries([...job.matchAll(/targets: \["127\.0\.0\.1:(\d+)"\]\s*\n\s*labels: \{ service: ([a-z0-9-]+) \}/g)].map((m) => [m[2], Number(m[1])]));
  assert.equal(Object.keys(scraped).length, 5);
  assert.deepEqual(localPorts({}).httpPorts, scraped);
});

test('every port honours its variable, and a bad one is named', () => {
  const ports = localPorts({ SMTP_HTTP_PORT: '3101', POP3_PORT: '11110', QUEUE_GRPC_PORT: '' });
  assert.equal(ports.httpPorts['smtp-ingress'], 3101);
  assert.equal(ports.httpPorts['queue-manager'], 9102);
  assert.equal(ports.listeners.pop3Port, 11110);
  assert.equal(ports.listeners.queueGrpcPort, 50052);
  assert.equal(ports.byVariable.get('SMTP_HTTP_PORT'), 3101);
  assert.equal(ports.byVariable.size, 13);
  assert.throws(() => localPorts({ SMTP_HTTP_PORT: 'abc' }), /^Error: SMTP_HTTP_PORT="abc": expected a port number \(1-65535\)$/);
});

test('a service that keeps dying is restarted after 1 s, then 2, 4 … at most 30 s', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 20].map(restartPauseMs), [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
});
