// The dashboards and alerts proven live: a real Prometheus scrapes the running system with the shipped
// rules. The shipped `for:` windows are minutes long (promtool's unit tests check them); here every `for:`
// is set to 3 s, so the same expressions are seen firing and resolving in seconds. First the stalled-queue
// alert: delivery-agent stopped with mail queued fires MailQueueStalled, and its return resolves it. Then,
// after real traffic of every kind, every panel query of every dashboard returns data.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { poplibFetch, RawClient, sendOverSmtp } from '../clients.js';
import { REPO_ROOT, type MailSystem } from '../mail-system.js';
import { findPrometheus, freePort, startPrometheus, type RunningPrometheus } from '@mail/launcher';
import { rulesWithShortFor } from '../prometheus.js';
import { PASSWORD, startSystemWithUsers, waitForMessageCount } from './helpers.js';

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';

interface Panel {
  title: string;
  targets?: Array<{ refId: string; expr: string }>;
  panels?: Panel[];
}

/** Every panel query of the shipped dashboards, with the dashboard's variables as Grafana's "All" sets them. */
function dashboardQueries(): Array<{ where: string; expr: string }> {
  const dir = join(REPO_ROOT, 'deploy', 'observability', 'dashboards');
  const queries: Array<{ where: string; expr: string }> = [];
  for (const name of ['overview', 'smtp-ingress', 'queue-delivery', 'pop3']) {
    const dashboard = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as { panels: Panel[] };
    for (const panel of dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])])) {
      for (const target of panel.targets ?? []) queries.push({ where: `${name} "${panel.title}" ${target.refId}`, expr: target.expr.replaceAll('$namespace', '.*') });
    }
  }
  return queries;
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

const prometheusMissing = findPrometheus() ? false : 'prometheus is not installed (scripts/setup.sh --test-tools installs it)';

describe('dashboards and alerts against a live Prometheus', { skip: prometheusMissing }, () => {
  let system: MailSystem;
  let prometheus: RunningPrometheus;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'live-dashboards-'));
    const downPort = await freePort(); // nothing listens: mail to down.test is deferred
    system = await startSystemWithUsers([ALICE, BOB], {
      env: {
        SMTP_RELAY_NETWORKS: '127.0.0.1/32',
        DELIVERY_TRANSPORT_MAP: `down.test=127.0.0.1:${downPort}`,
        QUEUE_RETRY_SCHEDULE: '1s,1h',
        AUTH_DELAY_BASE_MS: '1',
      },
    });
    prometheus = await startPrometheus({
      dir,
      port: await freePort(),
      targets: system.httpPorts,
      rulesFile: await rulesWithShortFor(dir, '3s'),
      scrapeInterval: '1s',
      evaluationInterval: '1s',
    });
  });
  after(async () => {
    await prometheus?.stop();
    await system?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const firing = async (alertname: string) => (await prometheus.alerts()).filter((a) => a.labels.alertname === alertname && a.state === 'firing');

  test('delivery-agent stopped with mail queued: MailQueueStalled fires; back again, it resolves', async () => {
    await eventually('every service scraped', async () => ((await prometheus.query('count(up{job="mailplatform"} == 1)'))[0]?.value[1] === '5' ? true : undefined));
    assert.deepEqual(await firing('MailQueueStalled'), []);
    await system.services['delivery-agent'].stop();
    try {
      // Remote mail (the remote lane is delivery-agent's; mailbox-store takes local mail itself). Its host
      // is down, so once delivery-agent is back the attempt ends deferred: an attempt that ended.
      await sendOverSmtp(system.smtpPort, { from: ALICE, to: 'waits@down.test' }, 'Subject: waits\r\n\r\nfor delivery-agent\r\n');
      const [alert] = await eventually('MailQueueStalled firing', async () => ((await firing('MailQueueStalled')).length ? firing('MailQueueStalled') : undefined));
      assert.equal(alert!.labels.severity, 'critical');
      assert.match(alert!.annotations.summary!, /^Mail is not being delivered: 1 delivery jobs out, no attempt ended in 5 minutes$/);
      await eventually('MailServiceDown firing for delivery-agent', async () => ((await firing('MailServiceDown')).some((a) => a.labels.service === 'delivery-agent') ? true : undefined));
    } finally {
      await system.start('delivery-agent');
    }
    await eventually('MailQueueStalled resolved', async () => ((await prometheus.alerts()).some((a) => a.labels.alertname === 'MailQueueStalled') ? undefined : true));
  });

  test('after real traffic, every panel of every dashboard has data', async () => {
    // Local deliveries, a deferred remote one (a retry), a refused recipient, SMTP and POP3 logins that
    // fail, POP3 logins and retrievals that succeed, and a maildrop already in use (a gRPC error).
    for (let i = 0; i < 3; i++) await sendOverSmtp(system.smtpPort, { from: 'carol@remote.test', to: BOB }, `Subject: traffic ${i}\r\n\r\nhello\r\n`);
    await sendOverSmtp(system.smtpPort, { from: ALICE, to: 'someone@down.test' }, 'Subject: deferred\r\n\r\nto a host that is down\r\n');
    const smtp = await RawClient.connect(system.smtpPort);
    await smtp.reply();
    await smtp.command('EHLO client.test');
    await smtp.command('MAIL FROM:<carol@remote.test>');
    assert.match(await smtp.command('RCPT TO:<nobody@example.test>'), /^550 /);
    smtp.close();
    const submission = await RawClient.connect(system.submissionPort);
    await submission.reply();
    await submission.command('EHLO client.test');
    submission.send('STARTTLS\r\n');
    await submission.reply();
    await submission.upgrade({ rejectUnauthorized: false });
    await submission.command('EHLO client.test');
    assert.match(await submission.command(`AUTH PLAIN ${Buffer.from(`\0${BOB}\0wrong`).toString('base64')}`), /^535 /);
    submission.close();
    await waitForMessageCount(system, BOB, 3);
    assert.equal((await poplibFetch(system.pop3Port, BOB, PASSWORD)).messages.length, 3);
    const holder = await RawClient.connect(system.pop3Port);
    await holder.reply();
    await holder.command(`USER ${BOB}`);
    assert.match(await holder.command(`PASS ${PASSWORD}`), /^\+OK/);
    const second = await RawClient.connect(system.pop3Port);
    await second.reply();
    await second.command(`USER ${BOB}`);
    assert.match(await second.command(`PASS ${PASSWORD}`), /^-ERR \[IN-USE\]/);
    await second.command(`USER ${ALICE}`);
    assert.match(await second.command('PASS wrong'), /^-ERR \[AUTH\]/);
    second.close();
    await holder.command('QUIT');
    holder.close();

    const queries = dashboardQueries();
    assert.ok(queries.length >= 38, `${queries.length} panel queries`);
    const empty = await eventually('every panel with data', async () => {
      const stillEmpty: string[] = [];
      for (const { where, expr } of queries) if ((await prometheus.query(expr)).length === 0) stillEmpty.push(`${where}: ${expr}`);
      return stillEmpty.length === 0 ? stillEmpty : undefined;
    }).catch(async (err: Error) => {
      const stillEmpty: string[] = [];
      for (const { where, expr } of queries) if ((await prometheus.query(expr)).length === 0) stillEmpty.push(`${where}: ${expr}`);
      throw new Error(`${err.message}; empty:\n${stillEmpty.join('\n')}`);
    });
    assert.deepEqual(empty, []);
  });
});
