// deploy/observability: the alert rules pass promtool (syntax and unit tests), the dashboards parse and
// are well formed, and every metric a rule or dashboard names is in the contract of METRICS.md (or is
// one of prom-client's default metrics, or `up`), so that no panel stays silently empty.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { metricNames } from './promql.js';
import { observabilityDir, promtool, promtoolSkip, run } from './repo.js';

const RULES = 'rules/mail-alerts.rules.yml';
const readText = (path: string): string => readFileSync(join(observabilityDir, path), 'utf8');

/** The domain metrics of METRICS.md: the first column of its tables, in backquotes. */
function contractMetrics(): Set<string> {
  const names = new Set<string>();
  for (const line of readText('METRICS.md').split('\n')) {
    const match = /^\| `([a-z_:][a-z0-9_:]*)` \|/.exec(line);
    if (match) names.add(match[1]!);
  }
  return names;
}

interface RuleGroup {
  name: string;
  rules: { alert?: string; record?: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> }[];
}
const ruleGroups = (): RuleGroup[] => (parse(readText(RULES)) as { groups: RuleGroup[] }).groups;

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { refId: string; expr: string }[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating?: { list: { name: string }[] };
}
const DASHBOARDS = ['overview', 'smtp-ingress', 'queue-delivery', 'pop3'];
const dashboard = (name: string): Dashboard => JSON.parse(readText(`dashboards/${name}.json`)) as Dashboard;
const panelsOf = (d: Dashboard): Panel[] => d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);

/** Whether a metric name is one the services or Prometheus export. */
function known(name: string, contract: Set<string>, recorded: Set<string>): boolean {
  if (name === 'up' || recorded.has(name)) return true;
  if (/^(process|nodejs)_[a-z0-9_]+$/.test(name)) return true;
  if (contract.has(name)) return true;
  const histogram = /^(.+)_(bucket|sum|count)$/.exec(name);
  return !!histogram && contract.has(histogram[1]!);
}

test('promtool check rules accepts the alert rules', { skip: promtoolSkip }, () => {
  const result = run(promtool!, ['check', 'rules', RULES], observabilityDir);
  assert.equal(result.status, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /SUCCESS/);
});

test('promtool test rules passes the rule unit tests', { skip: promtoolSkip }, () => {
  const result = run(promtool!, ['test', 'rules', 'tests/mail-alerts.test.yml'], observabilityDir);
  assert.equal(result.status, 0, result.stdout + result.stderr);
});

test('the rules alert on every condition of the runbook, each with a severity and a summary', () => {
  const alerts = ruleGroups().flatMap((g) => g.rules.filter((r) => r.alert));
  const names = alerts.map((a) => a.alert);
  for (const wanted of ['MailServiceDown', 'MailServiceAbsent', 'MailQueueStalled', 'MailQueueGrowing', 'MailQueueOldMessages', 'MailDeliveryFailureRateHigh', 'MailBounceSpike', 'MailAuthFailureSpike']) {
    assert.ok(names.includes(wanted), wanted);
  }
  for (const alert of alerts) {
    assert.match(alert.labels?.severity ?? '', /^(critical|warning|info)$/, `${alert.alert} severity`);
    assert.ok(alert.annotations?.summary, `${alert.alert} summary`);
  }
  const tested = readText('tests/mail-alerts.test.yml');
  for (const name of names) assert.ok(tested.includes(`alertname: ${name}`), `${name} has a promtool unit test`);
});

test('the rules use only metrics of the contract (METRICS.md), the default metrics and up', () => {
  const contract = contractMetrics();
  const recorded = new Set(ruleGroups().flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : []))));
  const unknown = ruleGroups()
    .flatMap((g) => g.rules)
    .flatMap((r) => [...metricNames(r.expr)].filter((n) => !known(n, contract, recorded)).map((n) => `${r.alert ?? r.record}: ${n}`));
  assert.deepEqual(unknown, []);
});

test('the four dashboards parse and are well formed: unique uid, unique panel ids, a Prometheus query per target', () => {
  const files = readdirSync(join(observabilityDir, 'dashboards')).filter((f) => f.endsWith('.json'));
  assert.deepEqual(files.map((f) => f.replace(/\.json$/, '')).sort(), [...DASHBOARDS].sort());
  const uids = new Set<string>();
  for (const name of DASHBOARDS) {
    const d = dashboard(name);
    assert.ok(d.uid && !uids.has(d.uid), `${name}: a unique uid`);
    uids.add(d.uid);
    assert.ok(d.title, `${name}: a title`);
    const panels = panelsOf(d);
    assert.ok(panels.length > 0, `${name}: panels`);
    assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, `${name}: unique panel ids`);
    for (const panel of panels) {
      assert.ok(panel.gridPos && panel.gridPos.w > 0 && panel.gridPos.h > 0 && panel.gridPos.x + panel.gridPos.w <= 24, `${name} "${panel.title}" gridPos`);
      if (panel.type === 'row') continue;
      assert.ok((panel.targets ?? []).length > 0, `${name} "${panel.title}" queries something`);
      for (const target of panel.targets ?? []) assert.ok(target.expr.trim(), `${name} "${panel.title}" ${target.refId} expr`);
    }
    const variables = new Set((d.templating?.list ?? []).map((v) => v.name));
    for (const used of JSON.stringify(d).matchAll(/\$\{?([a-z_]+)\}?/g)) {
      if (!['__interval', '__rate_interval', '__range'].includes(used[1]!)) assert.ok(variables.has(used[1]!), `${name}: variable $${used[1]} is defined`);
    }
  }
});

test('the dashboards use only metrics of the contract (METRICS.md), the default metrics and up', () => {
  const contract = contractMetrics();
  const unknown: string[] = [];
  for (const name of DASHBOARDS) {
    for (const panel of panelsOf(dashboard(name))) {
      for (const target of panel.targets ?? []) {
        for (const metric of metricNames(target.expr)) if (!known(metric, contract, new Set())) unknown.push(`${name} "${panel.title}": ${metric}`);
      }
    }
  }
  assert.deepEqual(unknown, []);
});

test('every dashboard query selects by the namespace variable, so that mail and mail-dev are never summed together', () => {
  const unfiltered: string[] = [];
  for (const name of DASHBOARDS) {
    const namespace = dashboard(name).templating?.list.find((v) => v.name === 'namespace') as { allValue?: string } | undefined;
    assert.equal(namespace?.allValue, '.*', `${name}: "All" namespaces is every series, with or without the label`);
    for (const panel of panelsOf(dashboard(name))) {
      for (const target of panel.targets ?? []) {
        for (const metric of metricNames(target.expr)) {
          if (new RegExp(`(?<![\\w:])${metric}(?!\\{namespace=~"\\$namespace")`).test(target.expr)) unfiltered.push(`${name} "${panel.title}": ${metric}`);
        }
      }
    }
  }
  assert.deepEqual(unfiltered, []);
});

test('every metric of the contract is watched by a dashboard or an alert', () => {
  const used = new Set<string>();
  for (const rule of ruleGroups().flatMap((g) => g.rules)) for (const n of metricNames(rule.expr)) used.add(n);
  for (const name of DASHBOARDS) {
    for (const panel of panelsOf(dashboard(name))) for (const t of panel.targets ?? []) for (const n of metricNames(t.expr)) used.add(n.replace(/_(bucket|sum|count)$/, ''));
  }
  assert.deepEqual([...contractMetrics()].filter((m) => !used.has(m)), []);
});

test('the observability kustomization ships every dashboard and the rules file', () => {
  const kustomization = readText('kustomization.yaml');
  for (const name of DASHBOARDS) assert.ok(kustomization.includes(`dashboards/${name}.json`), name);
  assert.ok(kustomization.includes(RULES));
  assert.ok(readText('prometheus.yml').includes(RULES), 'prometheus.yml loads the rules');
});
