// The DSN request (RFC 3461) in the NATS payloads: optional everywhere, so a spooled envelope, a job or a
// result written by a version without it still decodes (and means "no parameters given"), and one with
// it keeps every field.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { AcceptedMessage, approximateBytes, decodeJobBatch, decodeResultBatch, encodePayload, type DeliveryJob } from './nats.js';

/** An envelope exactly as the version before DSN wrote it into the spool's Mail-Envelope header. */
const OLD_ENVELOPE = '{"queueId":"01KB00000000000000AB","sender":"a@remote.test","recipients":["b@local.test"],"localRecipients":["b@local.test"],"size":12,"receivedAt":1764547200000,"smtputf8":false,"eightBitMime":false,"clientAddress":"127.0.0.1","submittedBy":"","chunks":0,"chunkSeqs":[],"bounceOf":""}';

test('an envelope spooled by the version before DSN decodes, with no DSN request', () => {
  const envelope = AcceptedMessage.parse(JSON.parse(OLD_ENVELOPE));
  assert.equal(envelope.ret, undefined);
  assert.equal(envelope.envid, undefined);
  assert.equal(envelope.recipientDsn, undefined);
  assert.deepEqual(envelope.recipients, ['b@local.test']);
});

test('an envelope with RET, ENVID, NOTIFY and ORCPT keeps them', () => {
  const envelope = AcceptedMessage.parse({
    ...JSON.parse(OLD_ENVELOPE),
    ret: 'HDRS',
    envid: 'abc 123',
    recipientDsn: [{ recipient: 'b@local.test', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;x@y' }],
  });
  assert.equal(envelope.ret, 'HDRS');
  assert.equal(envelope.envid, 'abc 123');
  assert.deepEqual(envelope.recipientDsn, [{ recipient: 'b@local.test', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;x@y' }]);
  assert.deepEqual(AcceptedMessage.parse(JSON.parse(JSON.stringify(envelope))), envelope, 'JSON round trip');
});

test('bad DSN values are refused at decoding', () => {
  const base = JSON.parse(OLD_ENVELOPE);
  assert.throws(() => AcceptedMessage.parse({ ...base, ret: 'SOME' }));
  assert.throws(() => AcceptedMessage.parse({ ...base, envid: 'x'.repeat(101) }));
  assert.throws(() => AcceptedMessage.parse({ ...base, recipientDsn: [{ recipient: 'b@local.test', notify: [] }] }));
  assert.throws(() => AcceptedMessage.parse({ ...base, recipientDsn: [{ recipient: 'b@local.test', notify: ['ALWAYS'] }] }));
});

test('jobs and results without DSN fields (older versions) decode, and with them keep them', () => {
  const job: DeliveryJob = { queueId: 'Q1', jobId: 'Q1.0', sender: 's@remote.test', recipients: ['r@x.test'], smtputf8: false, domain: 'x.test' };
  const [old] = decodeJobBatch(encodePayload(job));
  assert.equal(old!.recipientDsn, undefined);
  const withDsn = { ...job, ret: 'FULL' as const, envid: 'e1', recipientDsn: [{ recipient: 'r@x.test', notify: ['NEVER' as const] }] };
  const [decoded] = decodeJobBatch(encodePayload({ jobs: [withDsn] }));
  assert.deepEqual(decoded, withDsn);
  assert.ok(approximateBytes(withDsn) > approximateBytes(job));
  const [result] = decodeResultBatch(encodePayload({ queueId: 'Q1', jobId: 'Q1.0', results: [{ recipient: 'r@x.test', outcome: 'delivered', reply: '250 ok' }] }));
  assert.equal(result!.results[0]!.handoff, undefined);
  const [relayed] = decodeResultBatch(encodePayload({ results: [{ queueId: 'Q1', jobId: 'Q1.0', results: [{ recipient: 'r@x.test', outcome: 'delivered', handoff: 'relayed-without-dsn' }] }] }));
  assert.equal(relayed!.results[0]!.handoff, 'relayed-without-dsn');
});
