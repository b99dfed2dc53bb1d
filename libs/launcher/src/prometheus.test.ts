// The Prometheus configuration of scripts/observe-local.sh and the live tests: the shipped local job (the
// same targets, labels and job name) with the shipped rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './launch.js';
import { localPorts } from './local-run.js';
import { prometheusConfig, SHIPPED_RULES } from './prometheus.js';

/** A configuration's static targets with their service labels, and whether it names its job mailplatform. */
function staticJob(yaml: string) {
  const job = yaml.slice(yaml.indexOf('mailplatform-local'));
  return {
    targets: [...job.matchAll(/targets: \["([^"]+)"\]\s*\n\s*labels: \{ service: ([a-z0-9-]+) \}/g)].map((m) => `${m[2]}=${m[1]}`).sort(),
    relabelled: /- target_label: job\s*\n\s*replacement: mailplatform/.test(job),
  };
}

test('on the default ports the configuration scrapes what the shipped mailplatform-local job scrapes, with the shipped rules', () => {
  const shipped = readFileSync(join(REPO_ROOT, 'deploy/observability/prometheus.yml'), 'utf8');
  const made = prometheusConfig({ dir: '/d', port: 9090, targets: localPorts({}).httpPorts });
  assert.deepEqual(staticJob(made), staticJob(shipped));
  assert.equal(staticJob(made).targets.length, 5);
  assert.ok(made.includes(`- ${JSON.stringify(SHIPPED_RULES)}`));
});
