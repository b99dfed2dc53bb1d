// The manifest holds together, the README's tables say what it says, and the local run's ports are the
// services' own variables and defaults.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOCAL_HTTP_PORTS, LOCAL_PORTS } from '@mail/launcher';
import { MANIFEST_SERVICES, serviceSettings, settingsManifest } from './manifest.js';
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
