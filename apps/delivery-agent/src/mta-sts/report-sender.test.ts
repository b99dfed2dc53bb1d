// Sending TLS-RPT reports (RFC 8460 §5.3) through the spool of a real nats-server: a finished day's data
// becomes one report mail per mailto: rua, queued once however many replicas try, and the mail reads
// as a multipart/report with a gzipped JSON report in Python's email package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { ensureStreams, Spool } from '@mail/platform';
import { withTwoNatsClients } from '@mail/testing';
import { reportQueueId, TlsReportSender } from './report-sender.js';
import { KvTlsReportStore, type SessionRecord } from './tls-report.js';

const policy = { type: 'sts' as const, lines: ['version: STSv1', 'mode: enforce', 'mx: mx.example.test', 'max_age: 86400'], mxHosts: ['mx.example.test'] };
const session: SessionRecord = { policyDomain: 'example.test', policy, rua: ['mailto:tls-reports@example.test', 'https://reports.example.test/'] };
const failure: SessionRecord = { ...session, failure: { resultType: 'certificate-host-mismatch', receivingMxHostname: 'mx.example.test', detail: 'altnames do not match' } };

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
    await storeA.record(session, yesterday);
    await storeA.record(failure, yesterday);
    await storeA.record(session, today); // today's is not finished: not sent
    const options = { organization: 'mx.ours.test', from: 'postmaster@ours.test' };
    const senders = [new TlsReportSender(storeA.reportMarks(), new Spool(a, 10_000, false), options), new TlsReportSender(storeB.reportMarks(), new Spool(b, 10_000, false), options)];

    const queued = await Promise.all(senders.map((s) => s.sendDue(today)));
    assert.deepEqual(queued.sort(), [0, 1], 'one replica queued it, to the one mailto: address');
    assert.equal(await senders[0]!.sendDue(today), 0, 'and not again');

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
