// The checks themselves: each catches the mistake it is there for, on a small broken example.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDockerfile } from './dockerfile.js';
import { metricNames } from './promql.js';
import { typeCheck, validateObject } from './schemas.js';
import type { K8sObject } from './manifests.js';

const deployment = (container: Record<string, unknown>): K8sObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'broken' },
  spec: { selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'x', image: 'x', ...container }] } } },
});

test('validate() refuses a value of the wrong type', async () => {
  assert.equal(await validateObject(deployment({})), undefined);
  assert.match((await validateObject(deployment({ ports: [{ containerPort: 'smtp' }] }))) ?? '', /containerPort must be integer/);
});

test('the type check refuses an unknown field that validate() lets through', async () => {
  const misspelt = deployment({ readinesProbe: { httpGet: { path: '/readyz', port: 'http' } } });
  assert.equal(await validateObject(misspelt), undefined, 'validate() misses it');
  assert.match(typeCheck('self-test', [misspelt]), /readinesProbe/);
});

test('metric names are found in PromQL, without functions, labels, keywords or durations', () => {
  assert.deepEqual(
    [...metricNames('sum by (outcome, le) (rate(deliveries_total{outcome=~"failed|x"}[5m])) / ignoring(x) sum(rate(bounces_total[6h] offset 10m)) > 1e3 and up == 0')].sort(),
    ['bounces_total', 'deliveries_total', 'up'],
  );
  assert.deepEqual([...metricNames('histogram_quantile(0.99, sum(rate(delivery_duration_seconds_bucket[5m])) by (le))')], ['delivery_duration_seconds_bucket']);
});

test('Dockerfile stages, continuation lines and stage names are read', () => {
  const stages = parseDockerfile('# c\nFROM node:20 AS build\nRUN a \\\n  && b\nFROM node:20-slim\nUSER 1000\nCMD ["node", "x.js"]\n');
  assert.equal(stages.length, 2);
  assert.equal(stages[0]!.name, 'build');
  assert.deepEqual(stages[0]!.instructions, [{ keyword: 'RUN', args: 'a  && b' }]);
  assert.equal(stages[1]!.base, 'node:20-slim');
});

test('a FROM naming a global ARG reads as its default', () => {
  const stages = parseDockerfile('ARG BASE=node:20-slim\nARG FROM_STAGE=build\nFROM ${BASE} AS build\nFROM $FROM_STAGE AS next\nFROM ${OTHER}\n');
  assert.deepEqual(stages.map((s) => s.base), ['node:20-slim', 'build', '${OTHER}']);
});
