// TLS-RPT data (RFC 8460): sessions counted per policy domain and day, by several replicas into one KV
// entry (a real nats-server), and the §4.4 JSON report made from them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withTwoNatsClients } from '@mail/testing';
import { addSession, KvTlsReportStore, MemoryTlsReportStore, tlsReport, type SessionRecord } from './tls-report.js';

const policy = { type: 'sts' as const, lines: ['version: STSv1', 'mode: testing', 'mx: mx.example.test', 'max_age: 86400'], mxHosts: ['mx.example.test'] };
const ok: SessionRecord = { policyDomain: 'example.test', policy, rua: ['mailto:tlsrpt@example.test'] };
const noTls: SessionRecord = { ...ok, failure: { resultType: 'starttls-not-supported', receivingMxHostname: 'mx.example.test', detail: 'mx.example.test does not offer STARTTLS' } };
const day = new Date('2026-12-01T10:00:00Z');

test('successes and failures are counted; failures by result type and MX host', () => {
  let data = addSession(undefined, ok, '2026-12-01');
  data = addSession(data, noTls, '2026-12-01');
  data = addSession(data, noTls, '2026-12-01');
  assert.equal(data.successful, 1);
  assert.equal(data.failed, 2);
  assert.deepEqual(data.failures, [{ resultType: 'starttls-not-supported', receivingMxHostname: 'mx.example.test', count: 2, detail: 'mx.example.test does not offer STARTTLS' }]);
});

test('the report has the fields of RFC 8460 §4.4', () => {
  const data = addSession(addSession(undefined, ok, '2026-12-01'), noTls, '2026-12-01');
  const report = tlsReport(data, 'mx.ours.test', 'postmaster@mx.ours.test') as any;
  assert.deepEqual(report['date-range'], { 'start-datetime': '2026-12-01T00:00:00Z', 'end-datetime': '2026-12-01T23:59:59Z' });
  assert.equal(report['organization-name'], 'mx.ours.test');
  assert.equal(typeof report['report-id'], 'string');
  const [entry] = report.policies;
  assert.deepEqual(entry.policy, { 'policy-type': 'sts', 'policy-string': policy.lines, 'mx-host': ['mx.example.test'], 'policy-domain': 'example.test' });
  assert.deepEqual(entry.summary, { 'total-successful-session-count': 1, 'total-failure-session-count': 1 });
  assert.deepEqual(entry['failure-details'][0], { 'result-type': 'starttls-not-supported', 'receiving-mx-hostname': 'mx.example.test', 'failed-session-count': 1, 'additional-information': 'mx.example.test does not offer STARTTLS' });
});

test('days are kept apart, newest first', async () => {
  const store = new MemoryTlsReportStore();
  await store.record(ok, new Date('2026-11-30T23:59:59Z'));
  await store.record(ok, day);
  assert.deepEqual((await store.list('example.test')).map((d) => d.day), ['2026-12-01', '2026-11-30']);
});

test('two replicas counting the same day at once lose no session (compare-and-set on the KV entry)', async () => {
  await withTwoNatsClients(async (a, b) => {
    const one = await KvTlsReportStore.open(a);
    const two = await KvTlsReportStore.open(b);
    await Promise.all([...Array.from({ length: 10 }, () => one.record(ok, day)), ...Array.from({ length: 10 }, () => two.record(noTls, day))]);
    const [data] = await one.list('example.test');
    assert.equal(data!.successful, 10);
    assert.equal(data!.failed, 10);
    assert.deepEqual(await two.list('other.test'), []);
  });
});
