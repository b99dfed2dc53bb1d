// MTA-STS (RFC 8461), TLS-RPT (RFC 8460) and REQUIRETLS (RFC 8689) end to end: recipient domains whose
// MX, _mta-sts and _smtp._tls records are on the loopback DNS server, policies served by a loopback HTTPS
// server with test-CA certificates for mta-sts.<domain>, and a receiving SMTP server (scripted, with
// STARTTLS and a test-CA certificate for the MX names) whose offer each test sets. Deferred mail stays
// deferred here (an hour between tries), so "not delivered" is seen, not waited out.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { Kvm } from '@nats-io/kv';
import pino from 'pino';
import { TLS_REPORT_BUCKET } from '@mail/contracts';
import { connectNats, loadNatsSettings } from '@mail/platform';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { poplibFetch, pythonParseDsns, smtplibSend, smtplibSubmitTls } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { PolicyServer, stsPolicyText } from '../policy-server.js';
import { ReportReceiver } from '../report-receiver.js';
import { ScriptedSmtpServer, type Script } from '../scripted-smtp.js';
import { createTestCa, type TestCa } from '../test-ca.js';
import { temporaryDirectory } from '../temporary-directories.js';
import { expectCli, PASSWORD, startSystemWithUsers, until, waitForMessageCount } from './helpers.js';

const ALICE = 'alice@example.test';
const REPORTS = 'tlsrpt@example.test';
const crlf = (text: string) => Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8');
const message = (subject: string, extraHeader = '') => crlf(`From: ${ALICE}\nSubject: ${subject}\nMessage-ID: <${subject}@example.test>\n${extraHeader}\nbody of ${subject}\n`);

interface Destination {
  recipient: string;
  state: string;
  attempts: number;
  lastReply?: string;
}

describe('MTA-STS, TLS-RPT and REQUIRETLS', () => {
  let system: MailSystem;
  let ca: TestCa;
  const policies = new PolicyServer();
  const DOMAINS = { enforce: 'enforce.test', testing: 'testing.test', nomatch: 'nomatch.test', notls: 'notls.test', rtls: 'rtls.test', rtlsok: 'rtlsok.test', optional: 'optional.test' };
  const plainExtensions = ['PIPELINING', '8BITMIME', 'SIZE 10000000'];
  const script: Script = { extensions: plainExtensions };
  const receiver = new ScriptedSmtpServer(script);
  /** A domain's https: rua (RFC 8460 §5.3), at tlsrpt.reports.test. */
  const reportReceiver = new ReportReceiver();

  /** The receiving server's offer for the next test. */
  const offer = (tls: boolean, requireTls = false) => {
    script.tls = tls ? mxCertificate : undefined;
    script.extensionsAfterTls = requireTls ? [...plainExtensions, 'REQUIRETLS'] : plainExtensions;
  };
  let mxCertificate: { certFile: string; keyFile: string };
  const delivered = (recipient: string) => receiver.transactions.filter((t) => t.recipients.includes(recipient));
  const destination = async (recipient: string): Promise<Destination | undefined> => {
    const queue = JSON.parse(await expectCli(system, ['queue', 'list', '--json'])) as { destinations: Destination[] }[];
    return queue.flatMap((m) => m.destinations).find((d) => d.recipient === recipient);
  };
  const deferredWith = (recipient: string) => until(`${recipient} deferred`, async () => {
    const d = await destination(recipient);
    return d && d.attempts > 0 ? d : undefined;
  });

  before(async () => {
    const work = await temporaryDirectory('mta-sts-');
    ca = await createTestCa(join(work, 'ca'));
    await policies.start(await ca.issue('policies', Object.values(DOMAINS).map((d) => `mta-sts.${d}`)));
    mxCertificate = await ca.issue('mx', [...Object.values(DOMAINS).map((d) => `mx.${d}`), 'mx.elsewhere.test']);
    const ingress = await ca.issue('ingress', ['localhost', '127.0.0.1']);
    await copyFile(ingress.certFile, join(work, 'cert.pem'));
    await copyFile(ingress.keyFile, join(work, 'key.pem'));
    const receiverPort = await receiver.start();
    await reportReceiver.start(await ca.issue('tlsrpt', ['tlsrpt.reports.test']));
    system = await startSystemWithUsers([ALICE, REPORTS], {
      env: {
        SMTP_RELAY_NETWORKS: '127.0.0.1/32',
        TLS_CERT_FILE: join(work, 'cert.pem'),
        TLS_KEY_FILE: join(work, 'key.pem'),
        DELIVERY_REMOTE_SMTP_PORT: String(receiverPort),
        DELIVERY_MTA_STS_HTTPS_PORT: String(policies.port),
        DELIVERY_MTA_STS_FETCH_TIMEOUT_MS: '3000',
        DELIVERY_TLS_EXTRA_CA_FILE: ca.caFile,
        DELIVERY_DESTINATION_BACKOFF_MS: '0',
        DELIVERY_TIMEOUT_CONNECT_MS: '2000',
        QUEUE_RETRY_SCHEDULE: '1h',
        QUEUE_REPORTING_MTA: 'mx.test.local',
        DELIVERY_TLSRPT_SEND_INTERVAL_MS: '1s',
        DELIVERY_HELO_NAME: 'mx.test.local',
      },
    });
    const dns = system.dns!;
    for (const [kind, domain] of Object.entries(DOMAINS)) {
      const mx = kind === 'nomatch' ? 'mx.elsewhere.test' : `mx.${domain}`;
      dns.mx(domain, mx);
      dns.a(mx, '127.0.0.1');
      dns.a(`mta-sts.${domain}`, '127.0.0.1');
      dns.txt(`_mta-sts.${domain}`, 'v=STSv1; id=20261201T000000;');
      dns.txt(`_smtp._tls.${domain}`, `v=TLSRPTv1; rua=mailto:tlsrpt@${domain}`);
      policies.answers.set(`mta-sts.${domain}`, { body: stsPolicyText(kind === 'testing' ? 'testing' : 'enforce', [`mx.${domain}`]) });
    }
    // No MTA-STS policy: REQUIRETLS mail to it fails at once (5.7.30), without a connection.
    dns.mx('nopolicy.test', 'mx.nopolicy.test');
    dns.a('mx.nopolicy.test', '127.0.0.1');
    dns.a('tlsrpt.reports.test', '127.0.0.1');
  });
  after(async () => {
    await receiver.stop();
    await reportReceiver.stop();
    await policies.stop();
    await system?.stop();
  });

  test('enforce, an MX the policy names, verified TLS: delivered under TLS', async () => {
    offer(true);
    const [sent] = await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['bob@enforce.test'], data: message('enforce-ok') }]);
    assert.equal(sent!.ok, true);
    const [transaction] = await until('delivery to mx.enforce.test', () => (delivered('bob@enforce.test').length ? delivered('bob@enforce.test') : undefined));
    assert.equal(transaction!.tls, true);
    assert.ok(policies.requests.includes('mta-sts.enforce.test'), 'the policy was fetched');
  });

  test('enforce, the only MX not among the policy mx: deferred with the reason, never connected to', async () => {
    offer(true);
    const before = receiver.connections;
    await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['bob@nomatch.test'], data: message('nomatch') }]);
    const d = await deferredWith('bob@nomatch.test');
    assert.match(d.lastReply ?? '', /^451 4\.7\.5 MTA-STS policy of nomatch\.test \(enforce\).*none of its MX hosts \(mx\.elsewhere\.test\) matches/);
    assert.equal(receiver.connections, before, 'no connection to an MX the policy does not name');
    assert.equal(delivered('bob@nomatch.test').length, 0);
  });

  test('enforce, an MX without STARTTLS: deferred, never sent in plaintext', async () => {
    offer(false);
    await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['bob@notls.test'], data: message('notls') }]);
    const d = await deferredWith('bob@notls.test');
    assert.match(d.lastReply ?? '', /^451 4\.4\.1 MTA-STS policy of notls\.test \(enforce\) needs verified TLS.*does not offer STARTTLS/);
    assert.equal(delivered('bob@notls.test').length, 0);
  });

  test('TLS-Required: No lets a message past an enforce policy the MX fails (RFC 8689 §5)', async () => {
    offer(false);
    await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['bob@optional.test'], data: message('optional', 'TLS-Required: No\n') }]);
    const [transaction] = await until('delivery to mx.optional.test', () => (delivered('bob@optional.test').length ? delivered('bob@optional.test') : undefined));
    assert.equal(transaction!.tls, false);
  });

  test('testing mode, an MX without STARTTLS: delivered as before, and the failure is in the TLS-RPT data', async () => {
    offer(false);
    await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['bob@testing.test'], data: message('testing') }]);
    const [transaction] = await until('delivery to mx.testing.test', () => (delivered('bob@testing.test').length ? delivered('bob@testing.test') : undefined));
    assert.equal(transaction!.tls, false);

    const shown = await until('TLS-RPT data of testing.test', async () => {
      const text = await expectCli(system, ['tlsrpt', 'show', 'testing.test']);
      return /1 failed/.test(text) ? text : undefined;
    });
    assert.match(shown, /testing\.test \(sts, mx mx\.testing\.test\): 0 successful, 1 failed; reports to mailto:tlsrpt@testing\.test/);
    assert.match(shown, /starttls-not-supported at mx\.testing\.test: 1/);
    const [report] = JSON.parse(await expectCli(system, ['tlsrpt', 'show', 'testing.test', '--json'])) as any[];
    const [entry] = report.policies;
    assert.equal(entry.policy['policy-type'], 'sts');
    assert.equal(entry.policy['policy-domain'], 'testing.test');
    assert.deepEqual(entry.summary, { 'total-successful-session-count': 0, 'total-failure-session-count': 1 });
    assert.equal(entry['failure-details'][0]['result-type'], 'starttls-not-supported');
    // The enforce domain's good session and its no-STARTTLS failure are counted too.
    const all = await expectCli(system, ['tlsrpt', 'show']);
    assert.match(all, /enforce\.test \(sts, mx mx\.enforce\.test\): 1 successful, 0 failed/);
    assert.match(all, /notls\.test .*: 0 successful, [1-9]\d* failed/);

    // The same domain's MX with verified TLS: a successful session.
    offer(true);
    await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['carol@testing.test'], data: message('testing-tls') }]);
    await until('a second delivery to mx.testing.test', () => (delivered('carol@testing.test').length ? true : undefined));
    await until('the successful session counted', async () => (/testing\.test .*: 1 successful, 1 failed/.test(await expectCli(system, ['tlsrpt', 'show', 'testing.test'])) ? true : undefined));
  });

  test('REQUIRETLS before STARTTLS is refused 530 5.7.10 (smtplib)', async () => {
    const [sent] = await smtplibSend(system.smtpPort, [{ from: ALICE, to: ['bob@rtlsok.test'], data: message('rtls-plain'), mailOptions: ['REQUIRETLS'] }]);
    assert.equal(sent!.ok, false);
    assert.equal(sent!.code, 530);
    assert.match(sent!.text, /5\.7\.10 REQUIRETLS needs a TLS session/);
  });

  test('REQUIRETLS to an enforce domain whose MX offers REQUIRETLS: delivered with REQUIRETLS on MAIL', async () => {
    offer(true, true);
    const result = await smtplibSubmitTls({ port: system.submissionPort, mode: 'starttls', cafile: ca.caFile, user: ALICE, password: PASSWORD, from: ALICE, to: ['bob@rtlsok.test'], data: message('rtls-ok'), mailOptions: ['REQUIRETLS'] });
    assert.equal(result.ok, true, result.error);
    assert.match(result.ehlo, /REQUIRETLS/);
    const [transaction] = await until('delivery to mx.rtlsok.test', () => (delivered('bob@rtlsok.test').length ? delivered('bob@rtlsok.test') : undefined));
    assert.equal(transaction!.tls, true);
    assert.match(transaction!.ehloParameters, /\bREQUIRETLS\b/);
  });

  test('REQUIRETLS to a next hop without REQUIRETLS: the recipient fails with 5.7.30 and the sender gets a DSN', async () => {
    offer(true, false);
    const result = await smtplibSubmitTls({ port: system.submissionPort, mode: 'starttls', cafile: ca.caFile, user: ALICE, password: PASSWORD, from: ALICE, to: ['bob@rtls.test'], data: message('rtls-bounce'), mailOptions: ['REQUIRETLS'] });
    assert.equal(result.ok, true, result.error);
    await waitForMessageCount(system, ALICE, 1, 30_000);
    const [bounce] = (await poplibFetch(system.pop3Port, ALICE, PASSWORD, { delete: true })).messages;
    const [dsn] = await pythonParseDsns([bounce!]);
    assert.equal(dsn!.content_type, 'multipart/report');
    assert.equal(dsn!.report_type, 'delivery-status');
    assert.equal(dsn!.recipients.length, 1);
    assert.match(dsn!.recipients[0]!['final-recipient']!, /bob@rtls\.test/);
    assert.equal(dsn!.recipients[0]!['action'], 'failed');
    assert.equal(dsn!.recipients[0]!['status'], '5.7.30');
    assert.match(dsn!.recipients[0]!['diagnostic-code']!, /REQUIRETLS/);
    assert.equal(delivered('bob@rtls.test').length, 0);
  });

  /** A message relayed with REQUIRETLS and RET=FULL from `sender` (of rtlsok.test, an enforce domain) to a domain without MTA-STS: it fails with 5.7.30, and its notice goes back to rtlsok.test's MX. */
  const relayRequireTlsToNoPolicy = async (sender: string, subject: string) => {
    const result = await smtplibSubmitTls({ port: system.smtpPort, mode: 'starttls', cafile: ca.caFile, from: sender, to: ['dave@nopolicy.test'], data: message(subject), mailOptions: ['REQUIRETLS', 'RET=FULL'] });
    assert.equal(result.ok, true, result.error);
  };
  const noticesTo = (recipient: string) => receiver.transactions.filter((t) => t.sender === '' && t.recipients.includes(recipient));

  test('a notice about a REQUIRETLS message goes back with REQUIRETLS, returning the header section only (RFC 8689 §5)', async () => {
    offer(true, true);
    await relayRequireTlsToNoPolicy('carol@rtlsok.test', 'rtls-notice');
    const [notice] = await until('the notice at mx.rtlsok.test', () => (noticesTo('carol@rtlsok.test').length ? noticesTo('carol@rtlsok.test') : undefined));
    assert.equal(notice!.tls, true);
    assert.match(notice!.ehloParameters, /\bREQUIRETLS\b/, 'MAIL FROM:<> REQUIRETLS');
    const [dsn] = await pythonParseDsns([notice!.data]);
    assert.equal(dsn!.report_type, 'delivery-status');
    assert.equal(dsn!.recipients[0]!['status'], '5.7.30');
    assert.match(dsn!.recipients[0]!['final-recipient']!, /dave@nopolicy\.test/);
    assert.equal(dsn!.returned_type, 'text/rfc822-headers', 'RET=FULL disregarded');
    assert.match(dsn!.returned!, /Subject: rtls-notice/);
    assert.doesNotMatch(notice!.data.toString(), /body of rtls-notice/);
  });

  test('a notice that cannot go back with REQUIRETLS goes without it and without the header section (RFC 8689 §5)', async () => {
    offer(true, false);
    await relayRequireTlsToNoPolicy('erin@rtlsok.test', 'rtls-redacted');
    const [notice, ...more] = await until('the redacted notice at mx.rtlsok.test', () => (noticesTo('erin@rtlsok.test').length ? noticesTo('erin@rtlsok.test') : undefined));
    assert.equal(more.length, 0, 'only the redacted one was taken');
    assert.equal(notice!.tls, true, 'still verified TLS: the domain\'s MTA-STS policy is in enforce mode');
    assert.doesNotMatch(notice!.ehloParameters, /REQUIRETLS/);
    const [dsn] = await pythonParseDsns([notice!.data]);
    assert.equal(dsn!.content_type, 'multipart/report');
    assert.deepEqual(dsn!.parts, ['text/plain', 'message/delivery-status'], 'nothing of the original returned');
    assert.equal(dsn!.recipients[0]!['status'], '5.7.30');
    assert.match(dsn!.recipients[0]!['final-recipient']!, /dave@nopolicy\.test/);
    assert.doesNotMatch(notice!.data.toString(), /rtls-redacted/);
    assert.match(dsn!.text.replace(/\s+/g, ' '), /sent with REQUIRETLS, but this notice could not be delivered to you that way, so it comes without REQUIRETLS and without the header section of your message/);
  });

  /** Yesterday's TLS-RPT data of `domain`, as delivery-agent counted it, put where it keeps it. */
  const putYesterdaysData = async (domain: string, rua: string[]) => {
    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const nats = await connectNats(system.natsUrl, 'tlsrpt-test', pino({ level: 'silent' }), loadNatsSettings(system.natsAuth.env('delivery-agent')));
    try {
      const kv = await new Kvm(nats.js).open(TLS_REPORT_BUCKET);
      await kv.put(`${day}.${domain}`, JSON.stringify({
        policyDomain: domain, day, rua, policy: { type: 'sts', lines: ['version: STSv1', 'mode: enforce', `mx: mx.${domain}`, 'max_age: 86400'], mxHosts: [`mx.${domain}`] },
        successful: 5, failed: 1, failures: [{ resultType: 'starttls-not-supported', receivingMxHostname: `mx.${domain}`, count: 1, detail: 'no STARTTLS' }],
      }));
    } finally {
      await nats.nc.close();
    }
    return day;
  };

  test("a finished day's TLS-RPT data is mailed to the mailto: rua through the queue (RFC 8460 §5.3)", async () => {
    const day = await putYesterdaysData('report.test', [`mailto:${REPORTS}`]);
    await waitForMessageCount(system, REPORTS, 1, 30_000);
    const [mail] = (await poplibFetch(system.pop3Port, REPORTS, PASSWORD, { delete: true })).messages;
    const read = JSON.parse(execFileSync('python3', ['-c', READ_REPORT], { input: mail! }).toString());
    assert.equal(read.type, 'multipart/report');
    assert.equal(read.report_type, 'tlsrpt');
    assert.equal(read.domain, 'report.test');
    assert.equal(read.report['policies'][0]['policy']['policy-domain'], 'report.test');
    assert.deepEqual(read.report['policies'][0]['summary'], { 'total-successful-session-count': 5, 'total-failure-session-count': 1 });
    assert.equal(read.report['date-range']['start-datetime'], `${day}T00:00:00Z`);
  });

  test("a finished day's TLS-RPT report is POSTed to the https: rua, verified TLS, and a failed post is tried again (RFC 8460 §5.3, §5.5)", async () => {
    reportReceiver.answer = (n) => (n === 1 ? 503 : 200); // the first post fails
    const day = await putYesterdaysData('posted.test', [`https://tlsrpt.reports.test:${reportReceiver.port}/v1/report`]);
    await until('the report taken by the https: rua', () => (reportReceiver.received.some((r) => r.status === 200) ? true : undefined), 30_000);
    assert.deepEqual(reportReceiver.received.map((r) => r.status), [503, 200], 'tried again after the failure, then no more');
    for (const post of reportReceiver.received) {
      assert.equal(post.method, 'POST');
      assert.equal(post.host, 'tlsrpt.reports.test');
      assert.equal(post.path, '/v1/report');
      assert.equal(post.headers['content-type'], 'application/tlsrpt+gzip');
    }
    const report = JSON.parse(execFileSync('python3', ['-c', 'import gzip, sys; sys.stdout.write(gzip.decompress(sys.stdin.buffer.read()).decode())'], { input: reportReceiver.received[1]!.body }).toString());
    assert.equal(report['organization-name'], 'mx.test.local');
    assert.equal(report['policies'][0]['policy']['policy-domain'], 'posted.test');
    assert.deepEqual(report['policies'][0]['summary'], { 'total-successful-session-count': 5, 'total-failure-session-count': 1 });
    assert.equal(report['date-range']['start-datetime'], `${day}T00:00:00Z`);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.equal(reportReceiver.received.length, 2, 'posted once it was taken: not again');
  });
});

/** What Python's email package reads in a TLS-RPT report mail. */
const READ_REPORT = `
import email, email.policy, gzip, json, sys
msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
part = [p for p in msg.walk() if p.get_content_type() == "application/tlsrpt+gzip"][0]
json.dump({"type": msg.get_content_type(), "report_type": msg.get_param("report-type"), "domain": msg["TLS-Report-Domain"],
  "report": json.loads(gzip.decompress(part.get_payload(decode=True)))}, sys.stdout)
`;
