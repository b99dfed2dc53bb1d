// Sending TLS-RPT reports (RFC 8460 §5.3) on real parts: a real nats-server (the spool and the
// tls-reports bucket), the loopback DNS server, and a loopback HTTPS receiver with a test-CA certificate.
// A finished day's data becomes one report mail per mailto: rua, queued once however many replicas try,
// reading as a multipart/report with a gzipped JSON report in Python's email package; and one POST of the
// gzipped JSON per https: rua, tried again with back-off when it fails, and given up after 24 hours.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { createDnsLookup, ensureStreams, Spool, type DnsLookup, type NatsContext } from '@mail/platform';
import { createTestCa, ReportReceiver, startDnsServer, temporaryDirectory, withTwoNatsClients, type TestDnsServer } from '@mail/testing';
import { reportQueueId, TlsReportSender, type ReportPostOutcome, type ReportSenderOptions } from './report-sender.js';
import { KvTlsReportStore, type SessionRecord } from './tls-report.js';

const policy = { type: 'sts' as const, lines: ['version: STSv1', 'mode: enforce', 'mx: mx.example.test', 'max_age: 86400'], mxHosts: ['mx.example.test'] };
const HOUR = 3600_000;

let dns: TestDnsServer;
let lookup: DnsLookup;
let extraCa = '';
const receiver = new ReportReceiver();
/** The receiver's address, as a domain would publish it in rua. */
let reportUrl = '';

before(async () => {
  dns = await startDnsServer();
  lookup = createDnsLookup({ servers: [dns.address], timeoutMs: 2000 });
  const ca = await createTestCa(await temporaryDirectory('tlsrpt-ca-'));
  extraCa = await readFile(ca.caFile, 'utf8');
  await receiver.start(await ca.issue('reports', ['reports.example.test']));
  dns.a('reports.example.test', '127.0.0.1');
  reportUrl = `https://reports.example.test:${receiver.port}/v1/tlsrpt`;
});
after(async () => {
  await receiver.stop();
  await dns.close();
});

const sessionTo = (rua: string[]): SessionRecord => ({ policyDomain: 'example.test', policy, rua });
const failed = (session: SessionRecord): SessionRecord => ({ ...session, failure: { resultType: 'certificate-host-mismatch', receivingMxHostname: 'mx.example.test', detail: 'altnames do not match' } });

/** A report sender on `nats`, telling `outcomes` of its posts. */
function senderOn(nats: NatsContext, store: KvTlsReportStore, outcomes: ReportPostOutcome[] = [], https: Partial<ReportSenderOptions['https']> = {}) {
  return new TlsReportSender(store.reportMarks(), new Spool(nats, 10_000, false), {
    organization: 'mx.ours.test',
    from: 'postmaster@ours.test',
    https: { lookup, extraCa, timeoutMs: 3000, ...https },
    retryAfterMs: HOUR,
    onPost: (outcome) => outcomes.push(outcome),
  });
}

/** What Python's email package reads in a report mail. */
const READ_REPORT = `
import email, email.policy, gzip, json, sys
msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
part = [p for p in msg.walk() if p.get_content_type() == "application/tlsrpt+gzip"][0]
json.dump({"type": msg.get_content_type(), "report_type": msg.get_param("report-type"), "domain": msg["TLS-Report-Domain"],
  "submitter": msg["TLS-Report-Submitter"], "to": msg["To"], "filename": part.get_filename(),
  "report": json.loads(gzip.decompress(part.get_payload(decode=True)))}, sys.stdout)
`;

test("a finished day's report is queued once to each mailto: rua, and reads as RFC 8460 §5.3 says", async () => {
  await withTwoNatsClients(async (a, b) => {
    await ensureStreams(a, 1024 * 1024);
    const yesterday = new Date('2026-11-30T12:00:00Z');
    const today = new Date('2026-12-01T08:00:00Z');
    const storeA = await KvTlsReportStore.open(a);
    const storeB = await KvTlsReportStore.open(b);
    const session = sessionTo(['mailto:tls-reports@example.test']);
    await storeA.record(session, yesterday);
    await storeA.record(failed(session), yesterday);
    await storeA.record(session, today); // today's is not finished: not sent
    const senders = [senderOn(a, storeA), senderOn(b, storeB)];

    const queued = await Promise.all(senders.map((s) => s.sendDue(today)));
    assert.deepEqual(queued.map((q) => q.queued).sort(), [0, 1], 'one replica queued it, to the one mailto: address');
    assert.equal((await senders[0]!.sendDue(today)).queued, 0, 'and not again');

    const spooled = await new Spool(a).readWithEnvelope(reportQueueId('2026-11-30', 'example.test', 'tls-reports@example.test'));
    assert.ok(spooled, 'the report is in the spool');
    assert.deepEqual(spooled.envelope.recipients, ['tls-reports@example.test']);
    assert.equal(spooled.envelope.sender, 'postmaster@ours.test');
    const read = JSON.parse(execFileSync('python3', ['-c', READ_REPORT], { input: Buffer.from(spooled.message) }).toString());
    assert.equal(read.type, 'multipart/report');
    assert.equal(read.report_type, 'tlsrpt');
    assert.equal(read.domain, 'example.test');
    assert.equal(read.submitter, 'mx.ours.test');
    assert.equal(read.filename, 'mx.ours.test!example.test!2026-11-30T00:00:00Z!2026-11-30T23:59:59Z.json.gz');
    assert.equal(read.report['date-range']['start-datetime'], '2026-11-30T00:00:00Z');
    assert.deepEqual(read.report.policies[0].summary, { 'total-successful-session-count': 1, 'total-failure-session-count': 1 });
    assert.equal(read.report.policies[0]['failure-details'][0]['result-type'], 'certificate-host-mismatch');
  });
});

test("a finished day's report is posted once to each https: rua: gzipped JSON as application/tlsrpt+gzip, the name resolved by our DNS, the certificate checked", async () => {
  await withTwoNatsClients(async (a, b) => {
    await ensureStreams(a, 1024 * 1024);
    receiver.received.length = 0;
    receiver.answer = () => 200;
    const storeA = await KvTlsReportStore.open(a);
    const storeB = await KvTlsReportStore.open(b);
    const session = sessionTo([reportUrl]);
    await storeA.record(session, new Date('2026-11-30T12:00:00Z'));
    await storeA.record(failed(session), new Date('2026-11-30T13:00:00Z'));
    const outcomes: ReportPostOutcome[] = [];
    const today = new Date('2026-12-01T08:00:00Z');

    const sent = await Promise.all([senderOn(a, storeA, outcomes), senderOn(b, storeB, outcomes)].map((s) => s.sendDue(today)));
    assert.deepEqual(sent.map((s) => s.posted).sort(), [0, 1], 'one replica posted it');
    assert.equal(receiver.received.length, 1, 'one POST');
    const [post] = receiver.received;
    assert.equal(post!.method, 'POST');
    assert.equal(post!.host, 'reports.example.test');
    assert.equal(post!.path, '/v1/tlsrpt');
    assert.equal(post!.headers['content-type'], 'application/tlsrpt+gzip');
    assert.equal(Number(post!.headers['content-length']), post!.body.length);
    const report = JSON.parse(gunzipSync(post!.body).toString('utf8'));
    assert.equal(report['organization-name'], 'mx.ours.test');
    assert.equal(report['report-id'], '2026-11-30.example.test@mx.ours.test');
    assert.deepEqual(report['date-range'], { 'start-datetime': '2026-11-30T00:00:00Z', 'end-datetime': '2026-11-30T23:59:59Z' });
    assert.equal(report.policies[0].policy['policy-domain'], 'example.test');
    assert.deepEqual(report.policies[0].summary, { 'total-successful-session-count': 1, 'total-failure-session-count': 1 });
    assert.deepEqual(outcomes.map((o) => [o.outcome, o.post.attempts]), [['posted', 1]]);
    assert.deepEqual(await storeA.reportMarks().posts(), [], 'nothing left owed');

    assert.equal((await senderOn(a, storeA).sendDue(new Date(today.getTime() + 5 * HOUR))).posted, 0, 'and not again');
    assert.equal(receiver.received.length, 1);
  });
});

test('a failed post is tried again after the retry wait, then after twice as long; a 2xx ends it', async () => {
  await withTwoNatsClients(async (a) => {
    await ensureStreams(a, 1024 * 1024);
    receiver.received.length = 0;
    receiver.answer = (n) => (n <= 2 ? 503 : 201);
    const store = await KvTlsReportStore.open(a);
    await store.record(sessionTo([reportUrl]), new Date('2026-11-30T12:00:00Z'));
    const outcomes: ReportPostOutcome[] = [];
    const sender = senderOn(a, store, outcomes);
    const t0 = Date.parse('2026-12-01T00:10:00Z');
    const at = (ms: number) => sender.sendDue(new Date(t0 + ms));

    assert.equal((await at(0)).posted, 0);
    assert.equal(outcomes[0]!.outcome, 'failed');
    assert.match((outcomes[0] as { reason: string }).reason, /answered HTTP 503: refused with 503/);
    const [owed] = await store.reportMarks().posts();
    assert.deepEqual([owed!.post.attempts, owed!.post.nextAttemptAt, owed!.post.since], [1, t0 + HOUR, t0], 'kept, with the next attempt an hour on');

    await at(HOUR - 1);
    assert.equal(receiver.received.length, 1, 'not before it is due');
    await at(HOUR);
    assert.equal(receiver.received.length, 2);
    assert.equal((await store.reportMarks().posts())[0]!.post.nextAttemptAt, t0 + 3 * HOUR, 'then two hours on');
    assert.equal((await at(3 * HOUR)).posted, 1);
    assert.deepEqual(outcomes.map((o) => o.outcome), ['failed', 'failed', 'posted']);
    assert.equal(receiver.received[2]!.status, 201, 'any 2xx is success');
    assert.deepEqual(await store.reportMarks().posts(), []);
  });
});

test('a post failing for 24 hours is given up, said as such, and not tried again (RFC 8460 §5.5)', async () => {
  await withTwoNatsClients(async (a) => {
    await ensureStreams(a, 1024 * 1024);
    receiver.received.length = 0;
    receiver.answer = () => 500;
    const store = await KvTlsReportStore.open(a);
    await store.record(sessionTo([reportUrl]), new Date('2026-11-30T12:00:00Z'));
    const outcomes: ReportPostOutcome[] = [];
    const sender = senderOn(a, store, outcomes);
    const t0 = Date.parse('2026-12-01T00:10:00Z');
    // Attempts at 0, 1, 3, 7 and 15 hours; the next would be at 31 hours, past the 24.
    for (const hours of [0, 1, 3, 7, 15]) await sender.sendDue(new Date(t0 + hours * HOUR));
    assert.equal(receiver.received.length, 5);
    assert.deepEqual(outcomes.map((o) => o.outcome), ['failed', 'failed', 'failed', 'failed', 'abandoned']);
    assert.match((outcomes[4] as { reason: string }).reason, /HTTP 500.*24 hours have passed/);
    assert.deepEqual(await store.reportMarks().posts(), [], 'forgotten');
    await sender.sendDue(new Date(t0 + 40 * HOUR));
    assert.equal(receiver.received.length, 5, 'never tried again');
  });
});

test('an untrusted certificate or a redirect is a failed post: nothing is sent to a server we cannot verify, no redirect is followed', async () => {
  await withTwoNatsClients(async (a) => {
    await ensureStreams(a, 1024 * 1024);
    receiver.received.length = 0;
    const store = await KvTlsReportStore.open(a);
    await store.record(sessionTo([reportUrl]), new Date('2026-11-30T12:00:00Z'));
    const outcomes: ReportPostOutcome[] = [];
    const t0 = Date.parse('2026-12-01T00:10:00Z');

    await senderOn(a, store, outcomes, { extraCa: undefined }).sendDue(new Date(t0));
    assert.equal(outcomes[0]!.outcome, 'failed');
    assert.match((outcomes[0] as { reason: string }).reason, /certificate/i);
    assert.equal(receiver.received.length, 0, 'the report never reached it');

    receiver.answer = () => 301;
    await senderOn(a, store, outcomes).sendDue(new Date(t0 + HOUR));
    assert.match((outcomes[1] as { reason: string }).reason, /HTTP 301 \(redirects are not followed\)/);
    assert.deepEqual(receiver.received.map((r) => r.path), ['/v1/tlsrpt'], 'only the rua address was asked');
    assert.equal((await store.reportMarks().posts())[0]!.post.attempts, 2, 'still owed');
  });
});

test('an answer whose body never ends is read no further than its first bytes: the post ends at once, with the status', async () => {
  await withTwoNatsClients(async (a) => {
    await ensureStreams(a, 1024 * 1024);
    receiver.received.length = 0;
    receiver.answer = () => 500;
    receiver.endlessBody = true;
    try {
      const store = await KvTlsReportStore.open(a);
      await store.record(sessionTo([reportUrl]), new Date('2026-11-30T12:00:00Z'));
      const outcomes: ReportPostOutcome[] = [];
      const started = Date.now();
      await senderOn(a, store, outcomes, { timeoutMs: 10_000 }).sendDue(new Date('2026-12-01T00:10:00Z'));
      assert.ok(Date.now() - started < 5000, 'not read until the deadline');
      assert.match((outcomes[0] as { reason: string }).reason, /answered HTTP 500: x{200}$/);
    } finally {
      receiver.endlessBody = false;
    }
  });
});
