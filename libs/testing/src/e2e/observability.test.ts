// Observability of the running services: /healthz, /readyz, and /metrics scraped live; the scrape
// passes `promtool check metrics`, and every metric named in deploy/observability/METRICS.md (which
// the alert rules and dashboards use) is exported by the service that owns it.
import { strict as assert } from 'node:assert';
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RawClient, smtplibSend } from '../clients.js';
import { REPO_ROOT, SERVICE_NAMES, type MailSystem, type ServiceName } from '../mail-system.js';
import { PASSWORD, startSystemWithUsers, waitForMessageCount } from './helpers.js';

const hasPromtool = await new Promise<boolean>((resolve) => execFile('promtool', ['--version'], (e) => resolve(!e)));

/** promtool's naming lint flags prom-client's default `nodejs_active_*_total` gauges; they are not ours. */
const withoutDefaultGaugeLint = (text: string) =>
  text
    .split('\n')
    .filter((line) => !/^(# (HELP|TYPE) )?nodejs_active_\w+_total\b/.test(line))
    .join('\n');

function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
    child.stdin.end(text);
  });
}

/** METRICS.md's domain table: metric name -> the services that export it. */
async function contract(): Promise<Map<string, ServiceName[]>> {
  const text = await readFile(join(REPO_ROOT, 'deploy', 'observability', 'METRICS.md'), 'utf8');
  const rows = new Map<string, ServiceName[]>();
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const name = /^`([a-z0-9_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (!name || cells.length < 6) continue;
    const exporters = cells[4]!.includes('every') ? [...SERVICE_NAMES] : SERVICE_NAMES.filter((s) => cells[4]!.includes(s));
    if (exporters.length) rows.set(name, exporters);
  }
  return rows;
}

describe('health, readiness and metrics of the running services', () => {
  let system: MailSystem;
  const scrapes = new Map<ServiceName, string>();
  before(async () => {
    system = await startSystemWithUsers(['obs@example.test']);
    // Some traffic, so that the counters have series: a message in, a refusal, a login, a retrieval.
    await smtplibSend(system.smtpPort, [{ from: 'a@remote.test', to: ['obs@example.test'], data: Buffer.from('Subject: m\r\n\r\nx\r\n') }]);
    await smtplibSend(system.smtpPort, [{ from: 'a@remote.test', to: ['nobody@example.test'], data: Buffer.from('Subject: m\r\n\r\nx\r\n') }]);
    await waitForMessageCount(system, 'obs@example.test', 1);
    const pop = await RawClient.connect(system.pop3Port);
    await pop.reply();
    await pop.command('USER obs@example.test');
    await pop.command(`PASS ${PASSWORD}`);
    await pop.command('RETR 1');
    await pop.multiline();
    await pop.command('QUIT');
    pop.close();
    for (const name of SERVICE_NAMES) {
      scrapes.set(name, await (await fetch(`http://127.0.0.1:${system.httpPorts[name]}/metrics`)).text());
    }
  });
  after(async () => {
    await system?.stop();
  });

  test('every service answers /healthz and /readyz with 200', async () => {
    for (const name of SERVICE_NAMES) {
      assert.equal((await fetch(`http://127.0.0.1:${system.httpPorts[name]}/healthz`)).status, 200, name);
      assert.equal((await fetch(`http://127.0.0.1:${system.httpPorts[name]}/readyz`)).status, 200, name);
    }
  });

  test('every metric of the contract is exported by its service, with the service label', async () => {
    const metrics = await contract();
    assert.ok(metrics.size >= 15, 'the contract was read');
    for (const [metric, exporters] of metrics) {
      for (const service of exporters) {
        const text = scrapes.get(service)!;
        assert.match(text, new RegExp(`^# TYPE ${metric} `, 'm'), `${service} exports ${metric}`);
      }
    }
    assert.match(scrapes.get('smtp-ingress')!, /^smtp_messages_accepted_total\{service="smtp-ingress"\} [1-9]/m);
    assert.match(scrapes.get('smtp-ingress')!, /^smtp_messages_rejected_total\{reason="unknown_recipient",service="smtp-ingress"\} 1$/m);
    // Local mail: mailbox-store takes the local lane's jobs itself.
    assert.match(scrapes.get('mailbox-store')!, /^deliveries_total\{outcome="delivered",domain="example.test",service="mailbox-store"\} 1$/m);
    assert.match(scrapes.get('pop3-access')!, /^pop3_logins_total\{result="success",service="pop3-access"\} [1-9]\d*$/m);
    assert.match(scrapes.get('queue-manager')!, /^queue_depth\{service="queue-manager"\} 0$/m);
  });

  test('each live scrape passes promtool check metrics', { skip: !hasPromtool && 'promtool (Debian package prometheus) is missing' }, async () => {
    for (const [name, text] of scrapes) {
      const result = await promtoolCheck(withoutDefaultGaugeLint(text));
      assert.equal(result.code, 0, `${name}: ${result.output}`);
    }
  });
});
