// SmtpSession and Delivery Status Notifications (RFC 3461): DSN offered after EHLO; RET and ENVID at MAIL,
// NOTIFY and ORCPT at RCPT, checked (501 5.5.4 with the reason), each at most once, only after EHLO, and
// carried in the envelope handed to the spool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReply } from './replies.js';
import { SmtpSession, type Envelope, type SessionHooks } from './session.js';
import { commandReply, storeInMemory } from './session.test-support.js';

function connect() {
  const enqueued: Envelope[] = [];
  const checked: string[] = [];
  const hooks: SessionHooks = {
    checkRecipient: async (address) => {
      checked.push(address);
      if (address.startsWith('nobody@')) return 'unknown-user';
      return address.endsWith('@example.com') ? 'local' : 'remote';
    },
    storeMessage: storeInMemory(async (_id, envelope) => void enqueued.push(structuredClone(envelope))),
    newQueueId: () => 'Q1',
  };
  const session = new SmtpSession(
    { serverName: 'mx.example.net', clientAddress: '192.0.2.10', trustedNetwork: true },
    { maxMessageBytes: 10_000, maxRecipients: 10, maxErrors: 50, bareLineEndings: 'reject' },
    hooks,
  );
  const say = async (line: string) => formatReply(await commandReply(session, line)).replace(/\r\n$/, '');
  const send = async (data: string) => {
    session.pushData(Buffer.from(data));
    return formatReply(await session.finishData()).replace(/\r\n$/, '');
  };
  return { session, say, send, enqueued, checked };
}

async function ehlo() {
  const c = connect();
  await c.say('EHLO client.example');
  return c;
}

test('EHLO offers DSN; HELO offers nothing', async () => {
  assert.match(await connect().say('EHLO client.example'), /^250-DSN$/m);
  assert.equal(await connect().say('HELO client.example'), '250 mx.example.net');
});

test('RET, ENVID, NOTIFY and ORCPT are accepted and carried in the envelope, decoded', async () => {
  const c = await ehlo();
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> RET=HDRS ENVID=QQ314159+2Bx'), '250 2.1.0 Sender OK');
  assert.equal(await c.say('RCPT TO:<alice@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Alice+2Bdsn@example.com'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('RCPT TO:<bob@example.com> notify=never'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('RCPT TO:<carol@remote.example>'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('RCPT TO:<dave@remote.example> ORCPT=rfc822;dave@old.example'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('DATA'), '354 End data with <CR><LF>.<CR><LF>');
  assert.equal(await c.send('Subject: x\r\n\r\nbody\r\n.\r\n'), '250 2.0.0 OK: queued as Q1');
  const [envelope] = c.enqueued;
  assert.equal(envelope!.ret, 'HDRS');
  assert.equal(envelope!.envid, 'QQ314159+x');
  assert.deepEqual(envelope!.recipientDsn, [
    { recipient: 'alice@example.com', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;Alice+dsn@example.com' },
    { recipient: 'bob@example.com', notify: ['NEVER'] },
    { recipient: 'dave@remote.example', orcpt: 'rfc822;dave@old.example' },
  ]);
});

test('without DSN parameters the envelope carries no DSN request', async () => {
  const c = await ehlo();
  await c.say('MAIL FROM:<sender@remote.example>');
  await c.say('RCPT TO:<alice@example.com>');
  await c.say('DATA');
  await c.send('Subject: x\r\n\r\nbody\r\n.\r\n');
  assert.equal(c.enqueued[0]!.ret, undefined);
  assert.equal(c.enqueued[0]!.envid, undefined);
  assert.deepEqual(c.enqueued[0]!.recipientDsn, []);
});

test('a bad RET or ENVID is answered 501 5.5.4 saying what is wrong, and the transaction does not start', async () => {
  const c = await ehlo();
  assert.equal(await c.say('MAIL FROM:<s@remote.example> RET=BODY'), '501 5.5.4 RET must be FULL or HDRS');
  assert.equal(await c.say('MAIL FROM:<s@remote.example> RET'), '501 5.5.4 RET must be FULL or HDRS');
  assert.equal(await c.say('MAIL FROM:<s@remote.example> ENVID'), '501 5.5.4 ENVID needs a value (xtext)');
  assert.equal(await c.say(`MAIL FROM:<s@remote.example> ENVID=${'x'.repeat(101)}`), '501 5.5.4 ENVID longer than 100 characters');
  assert.equal(await c.say('MAIL FROM:<s@remote.example> ENVID=a+G1'), '501 5.5.4 ENVID is not valid xtext');
  assert.equal(await c.say('MAIL FROM:<s@remote.example> ENVID=a+0D+0AX:+20y'), '501 5.5.4 ENVID must decode to printable US-ASCII');
  assert.equal(c.session.state, 'Ready');
  assert.equal(await c.say(`MAIL FROM:<s@remote.example> ENVID=${'x'.repeat(100)} RET=FULL`), '250 2.1.0 Sender OK');
});

test('a bad NOTIFY or ORCPT is answered 501 5.5.4 before any recipient lookup', async () => {
  const c = await ehlo();
  await c.say('MAIL FROM:<s@remote.example>');
  assert.equal(await c.say('RCPT TO:<alice@example.com> NOTIFY=NEVER,SUCCESS'), '501 5.5.4 NOTIFY=NEVER cannot be combined with other values');
  assert.equal(await c.say('RCPT TO:<alice@example.com> NOTIFY=SOMETIMES'), '501 5.5.4 NOTIFY takes NEVER or SUCCESS, FAILURE, DELAY, not SOMETIMES');
  assert.equal(await c.say('RCPT TO:<alice@example.com> NOTIFY'), '501 5.5.4 NOTIFY needs NEVER or a list of SUCCESS, FAILURE, DELAY');
  assert.equal(await c.say('RCPT TO:<alice@example.com> ORCPT=alice@example.com'), '501 5.5.4 ORCPT must be address-type;address (e.g. rfc822;user@example.com)');
  assert.equal(await c.say('RCPT TO:<alice@example.com> ORCPT=rfc822;nobody'), '501 5.5.4 ORCPT rfc822 address must be local-part@domain');
  assert.equal(await c.say('RCPT TO:<alice@example.com> ORCPT=rfc822;a+ZZ@b'), '501 5.5.4 ORCPT address is not valid xtext');
  assert.deepEqual(c.checked, []);
  assert.equal(c.session.state, 'Mail');
});

test('a parameter given twice is refused with 501 5.5.4, at MAIL and at RCPT', async () => {
  const c = await ehlo();
  assert.equal(await c.say('MAIL FROM:<s@remote.example> RET=FULL RET=HDRS'), '501 5.5.4 Duplicate parameter RET');
  assert.equal(await c.say('MAIL FROM:<s@remote.example> ENVID=a envid=b'), '501 5.5.4 Duplicate parameter ENVID');
  assert.equal(await c.say('MAIL FROM:<s@remote.example> SIZE=10 SIZE=10'), '501 5.5.4 Duplicate parameter SIZE');
  assert.equal(await c.say('MAIL FROM:<s@remote.example>'), '250 2.1.0 Sender OK');
  assert.equal(await c.say('RCPT TO:<alice@example.com> NOTIFY=SUCCESS NOTIFY=FAILURE'), '501 5.5.4 Duplicate parameter NOTIFY');
  assert.equal(await c.say('RCPT TO:<alice@example.com> ORCPT=rfc822;a@b ORCPT=rfc822;c@d'), '501 5.5.4 Duplicate parameter ORCPT');
  assert.deepEqual(c.checked, []);
});

test('DSN parameters after HELO are refused as unsupported (555): the extension was not offered', async () => {
  const c = connect();
  await c.say('HELO client.example');
  assert.equal(await c.say('MAIL FROM:<s@remote.example> RET=HDRS'), '555 5.5.4 Unsupported parameter RET');
  assert.equal(await c.say('MAIL FROM:<s@remote.example> ENVID=x'), '555 5.5.4 Unsupported parameter ENVID');
  assert.equal(await c.say('MAIL FROM:<s@remote.example>'), '250 2.1.0 Sender OK');
  assert.equal(await c.say('RCPT TO:<alice@example.com> NOTIFY=NEVER'), '555 5.5.4 Unsupported parameter NOTIFY');
  assert.equal(await c.say('RCPT TO:<alice@example.com> ORCPT=rfc822;a@b'), '555 5.5.4 Unsupported parameter ORCPT');
  assert.equal(await c.say('RCPT TO:<alice@example.com>'), '250 2.1.5 Recipient OK');
});

test('a recipient named again keeps the DSN request of its first RCPT', async () => {
  const c = await ehlo();
  await c.say('MAIL FROM:<s@remote.example>');
  assert.equal(await c.say('RCPT TO:<alice@example.com> NOTIFY=SUCCESS'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('RCPT TO:<ALICE@example.com> NOTIFY=NEVER'), '250 2.1.5 Recipient OK');
  await c.say('DATA');
  await c.send('Subject: x\r\n\r\nbody\r\n.\r\n');
  assert.deepEqual(c.enqueued[0]!.recipientDsn, [{ recipient: 'alice@example.com', notify: ['SUCCESS'] }]);
});

test('a refused recipient leaves no DSN request behind, and RSET forgets RET and ENVID', async () => {
  const c = await ehlo();
  await c.say('MAIL FROM:<s@remote.example> RET=FULL ENVID=first');
  assert.equal(await c.say('RSET'), '250 2.0.0 Reset OK');
  await c.say('MAIL FROM:<s@remote.example>');
  assert.match(await c.say('RCPT TO:<nobody@example.com> NOTIFY=SUCCESS'), /^550 5\.1\.1 /);
  await c.say('RCPT TO:<alice@example.com>');
  await c.say('DATA');
  await c.send('Subject: x\r\n\r\nbody\r\n.\r\n');
  assert.equal(c.enqueued[0]!.ret, undefined);
  assert.equal(c.enqueued[0]!.envid, undefined);
  assert.deepEqual(c.enqueued[0]!.recipientDsn, []);
});
