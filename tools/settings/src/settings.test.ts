// The manifest holds together, the README's tables say what it says, the local run's ports are the
// services' own variables and defaults, and every variable the launcher sets is one a service declares.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LOCAL_HTTP_PORTS, LOCAL_PORTS, localServiceSettings, SERVICE_NAMES, wiringEnvironment, writeNatsAuth, type ServiceName } from '@mail/launcher';
import { MANIFEST_SERVICES, serviceSettings, settingsManifest, undeclaredVariables } from './manifest.js';
import { differences, readReadme, renderSettings, withSettings } from './readme.js';

test('the README settings tables are the manifest (npm run docs:settings writes them)', () => {
  const problems = differences(readReadme());
  assert.deepEqual(problems, [], `README.md and the settings manifest disagree (run npm run docs:settings):\n${problems.join('\n')}`);
});

test('a README row that differs from the manifest is reported by its variable', () => {
  const readme = withSettings(readReadme());
  const changed = readme.replace(/^(\| `SMTP_MAX_ERRORS` \| )`20`/m, '$1`25`');
  assert.notEqual(changed, readme);
  const problems = differences(changed);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^SMTP_MAX_ERRORS: README.md says/);
  assert.match(differences(changed.replace(/^\| `SMTP_AUTH_TIMEOUT_MS` .*\n/m, ''))[1] ?? '', /^SMTP_AUTH_TIMEOUT_MS: missing from README.md/);
});

test('every setting has a description, and a service reads each variable once', () => {
  for (const service of MANIFEST_SERVICES) {
    const variables = serviceSettings(service).map((s) => s.variable);
    assert.deepEqual(variables.filter((v, i) => variables.indexOf(v) !== i), [], `${service} reads a variable twice`);
    for (const s of serviceSettings(service)) assert.ok(s.description.trim().length > 0, `${service}: ${s.variable} has no description`);
  }
  assert.match(renderSettings(), /\| `SMTP_PORT` \| `2525` \|/);
  assert.equal(settingsManifest()['mailbox-store']!.find((s) => s.variable === 'MAILBOX_DATA_DIR')?.default, '.data/mailbox-store');
});

test('the local run listens on the services\' own port variables, with their defaults', () => {
  const all = MANIFEST_SERVICES.flatMap(serviceSettings);
  // nats-server is not one of our services: its port is the local run's own.
  const ports = [...Object.values(LOCAL_PORTS), ...Object.values(LOCAL_HTTP_PORTS)].filter((p) => p.variable !== 'NATS_PORT');
  for (const { variable, fallback } of ports) {
    const found = all.find((s) => s.variable === variable);
    assert.ok(found, `${variable}: the local run sets it, no service reads it`);
    assert.equal(found.default, String(fallback), `${variable}: the local run's default differs from the service's`);
  }
});

test('every variable the launcher gives the services is one that a service declares', () => {
  const httpPorts = Object.fromEntries(SERVICE_NAMES.map((name, i) => [name, 9101 + i])) as Record<ServiceName, number>;
  const wiring = wiringEnvironment({
    natsUrl: 'nats://127.0.0.1:4222',
    dataDir: '/data',
    grpcPort: 50051,
    queueGrpcPort: 50052,
    httpPorts,
    smtpPort: 2525,
    pop3Port: 1110,
    submissionPort: 2587,
    smtpsPort: 2465,
    pop3sPort: 1995,
    tlsCertFile: '/data/tls/cert.pem',
    tlsKeyFile: '/data/tls/key.pem',
  });
  const undeclared = undeclaredVariables([...Object.keys(wiring), ...Object.keys(localServiceSettings({}))]);
  assert.deepEqual(undeclared, [], `the launcher sets variables that no service declares: ${undeclared.join(', ')}`);
  assert.deepEqual(undeclaredVariables(['SMTP_PORT', 'SMTP_PROT']), ['SMTP_PROT']);
});

test("each service's NATS user is given in variables that service declares", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'settings-test-'));
  try {
    const auth = await writeNatsAuth(dir);
    for (const service of Object.keys(auth.passwords) as (keyof typeof auth.passwords)[]) {
      const declared = serviceSettings(service).map((s) => s.variable);
      for (const variable of Object.keys(auth.env(service))) assert.ok(declared.includes(variable), `${variable}: the launcher gives it to ${service}, which does not declare it`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
