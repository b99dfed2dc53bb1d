// Delivery status notifications: content (RFC 3464 fields, the original headers), the null
// reverse-path rule, and deterministic ids for idempotent queuing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from '@mail/mime';
import { QueueEntry } from './core/entry.js';
import { buildNotice, derivedQueueId } from './bounces.js';

const entry = (sender: string) =>
  QueueEntry.parse({
    queueId: '01ABCDEFGHJKMNPQRSTV',
    sender,
    size: 100,
    receivedAt: Date.UTC(2026, 10, 29, 10, 0, 0),
    smtputf8: false,
    destinations: [
      { recipient: 'gone@remote.example', state: 'failed', attempts: 1, lastReply: '550 5.1.1 <gone@remote.example>: user unknown', remoteMta: 'mx.remote.example', lastAttemptAt: Date.UTC(2026, 10, 29, 10, 1, 0) },
    ],
  });

const original = Buffer.from('From: alice@example.test\r\nTo: gone@remote.example\r\nSubject: hello there\r\nMessage-ID: <m1@example.test>\r\n\r\nsecret body text\r\n');

test('a failure notice is a multipart/report with delivery-status and the original headers only', () => {
  const e = entry('alice@example.test');
  const notice = buildNotice({ entry: e, destinations: e.destinations, action: 'failed', reportingMta: 'mx.example.test', originalMessage: original, now: new Date(Date.UTC(2026, 10, 29, 10, 2, 0)) });
  assert.ok(notice);
  assert.equal(notice.recipient, 'alice@example.test');
  const text = Buffer.from(notice.message).toString('utf8');
  const parsed = parseMessage(notice.message);
  assert.equal(parsed.root.contentType.mimeType, 'multipart/report');
  assert.match(text, /report-type="?delivery-status"?/i);
  assert.match(text, /Reporting-MTA: dns; mx\.example\.test/);
  assert.match(text, /Final-Recipient: rfc822; gone@remote\.example/);
  assert.match(text, /Action: failed/);
  assert.match(text, /Status: 5\.1\.1/);
  assert.match(text, /Remote-MTA: dns; mx\.remote\.example/);
  assert.match(text, /Diagnostic-Code: smtp; 550 5\.1\.1 <gone@remote\.example>: user unknown/);
  assert.match(text, /Subject: hello there/);
  assert.doesNotMatch(text, /secret body text/);
  assert.match(text, /From: .*MAILER-DAEMON@mx\.example\.test/);
});

test('there is never a notice for a message from the null reverse-path', () => {
  const e = entry('');
  assert.equal(buildNotice({ entry: e, destinations: e.destinations, action: 'failed', reportingMta: 'mx', originalMessage: original, now: new Date() }), undefined);
});

test('a delay warning says delayed, with the time until which delivery is retried', () => {
  const e = entry('alice@example.test');
  e.destinations[0]!.state = 'pending';
  e.destinations[0]!.lastReply = '451 4.4.1 connection refused';
  const notice = buildNotice({ entry: e, destinations: e.destinations, action: 'delayed', reportingMta: 'mx', originalMessage: original, willRetryUntil: new Date(Date.UTC(2026, 11, 4)), now: new Date() });
  const text = Buffer.from(notice!.message).toString('utf8');
  assert.match(text, /Action: delayed/);
  assert.match(text, /Status: 4\.4\.1/);
  assert.match(text, /Will-Retry-Until: /);
});

test('the same notice always gets the same queue id, a different one another id', () => {
  const e = entry('alice@example.test');
  const a = buildNotice({ entry: e, destinations: e.destinations, action: 'failed', reportingMta: 'mx', originalMessage: original, now: new Date() });
  const b = buildNotice({ entry: e, destinations: e.destinations, action: 'failed', reportingMta: 'mx', originalMessage: original, now: new Date(0) });
  const c = buildNotice({ entry: e, destinations: e.destinations, action: 'delayed', reportingMta: 'mx', originalMessage: original, now: new Date() });
  assert.equal(a!.queueId, b!.queueId);
  assert.notEqual(a!.queueId, c!.queueId);
  assert.match(derivedQueueId('x'), /^[0-9A-Z]{20}$/);
});
