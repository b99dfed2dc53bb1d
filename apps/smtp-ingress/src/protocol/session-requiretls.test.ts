// SmtpSession and RFC 8689 (REQUIRETLS): offered in EHLO only under TLS, accepted at MAIL only there,
// and carried in the envelope.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReply } from './replies.js';
import { SmtpSession, type Envelope, type SessionContext } from './session.js';
import { commandReply, storeInMemory } from './session.test-support.js';

function connect(context: Partial<SessionContext> = {}) {
  const enqueued: Envelope[] = [];
  const session = new SmtpSession(
    { serverName: 'mx.example.net', clientAddress: '192.0.2.10', tlsAvailable: true, ...context },
    { maxMessageBytes: 10_000, maxRecipients: 10, maxErrors: 50, bareLineEndings: 'reject' },
    {
      checkRecipient: async () => 'local',
      storeMessage: storeInMemory(async (_id, envelope) => void enqueued.push(structuredClone(envelope))),
      newQueueId: () => 'Q1',
    },
  );
  const say = async (line: string) => formatReply(await commandReply(session, line)).replace(/\r\n$/, '');
  const send = async (data: string) => {
    session.pushData(Buffer.from(data));
    return formatReply(await session.finishData()).replace(/\r\n$/, '');
  };
  return { session, say, send, enqueued };
}

test('REQUIRETLS is not offered before STARTTLS, and is offered after it', async () => {
  const { say, session } = connect();
  assert.doesNotMatch(await say('EHLO c.example'), /REQUIRETLS/);
  await say('STARTTLS');
  session.tlsStarted();
  assert.match(await say('EHLO c.example'), /^250[- ]REQUIRETLS$/m);
});

test('MAIL FROM with REQUIRETLS on a plain session is refused 530 5.7.10, and no transaction starts', async () => {
  const { say } = connect();
  await say('EHLO c.example');
  assert.match(await say('MAIL FROM:<a@remote.example> REQUIRETLS'), /^530 5\.7\.10 REQUIRETLS needs a TLS session/);
  assert.match(await say('RCPT TO:<bob@example.com>'), /^503 /);
});

test('under TLS, MAIL FROM with REQUIRETLS is accepted and the envelope carries it; without it, it does not', async () => {
  const { say, send, enqueued } = connect({ secure: true });
  await say('EHLO c.example');
  assert.match(await say('MAIL FROM:<a@remote.example> REQUIRETLS'), /^250 /);
  await say('RCPT TO:<bob@example.com>');
  await say('DATA');
  assert.match(await send('Subject: x\r\n\r\nhi\r\n.\r\n'), /^250 /);
  assert.match(await say('MAIL FROM:<a@remote.example>'), /^250 /);
  await say('RCPT TO:<bob@example.com>');
  await say('DATA');
  await send('Subject: y\r\n\r\nhi\r\n.\r\n');
  assert.deepEqual(enqueued.map((e) => e.requireTls ?? false), [true, false]);
});

test('REQUIRETLS takes no value', async () => {
  const { say } = connect({ secure: true });
  await say('EHLO c.example');
  assert.match(await say('MAIL FROM:<a@remote.example> REQUIRETLS=yes'), /^501 /);
});
