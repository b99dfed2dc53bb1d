// SmtpSession and RFC 3207 (STARTTLS), RFC 4954 (AUTH PLAIN/LOGIN), RFC 6409 (submission needs AUTH),
// sender ownership, and the per-session and per-address message limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReply } from './replies.js';
import { SmtpSession, type AuthOutcome, type Envelope, type SessionContext, type SessionHooks } from './session.js';
import { commandReply, storeInMemory } from './session.test-support.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');

function connect(context: Partial<SessionContext> = {}, extraHooks: Partial<SessionHooks> = {}, limits: { maxMessagesPerConnection?: number; maxRecipientsPerConnection?: number } = {}) {
  const enqueued: { envelope: Envelope; message: string }[] = [];
  const hooks: SessionHooks = {
    checkRecipient: async (address) => (address.endsWith('@example.com') ? 'local' : 'remote'),
    storeMessage: storeInMemory(async (_id, envelope, message) => void enqueued.push({ envelope: structuredClone(envelope), message: message.toString() })),
    newQueueId: () => 'Q1',
    authenticate: async (user, password): Promise<AuthOutcome> =>
      user === 'alice@example.com' && password === 'sesame' ? { ok: true, mailbox: 'alice@example.com' } : { ok: false },
    ...extraHooks,
  };
  const session = new SmtpSession(
    { serverName: 'mx.example.net', clientAddress: '192.0.2.10', tlsAvailable: true, authAvailable: true, enforceSenderOwnership: true, ...context },
    { maxMessageBytes: 10_000, maxRecipients: 10, maxErrors: 50, bareLineEndings: 'reject', ...limits },
    hooks,
  );
  const say = async (line: string) => formatReply(await commandReply(session, line)).replace(/\r\n$/, '');
  const send = async (data: string) => {
    session.pushData(Buffer.from(data));
    return formatReply(await session.finishData()).replace(/\r\n$/, '');
  };
  return { session, say, send, enqueued };
}

test('EHLO offers STARTTLS on a plain connection with a certificate, and AUTH only once encrypted', async () => {
  const { say, session } = connect();
  const ehlo = await say('EHLO c.example');
  assert.match(ehlo, /^250-STARTTLS$/m);
  assert.doesNotMatch(ehlo, /AUTH/);
  assert.equal(await say('STARTTLS'), '220 2.0.0 Ready to start TLS');
  session.tlsStarted();
  const again = await say('EHLO c.example');
  assert.doesNotMatch(again, /STARTTLS/);
  assert.match(again, /^250-AUTH PLAIN LOGIN$/m);
});

test('after STARTTLS the session starts over: MAIL before a new EHLO is 503', async () => {
  const { say, session } = connect({ authRequired: false });
  await say('EHLO c.example');
  const reply = await commandReply(session, 'STARTTLS');
  assert.equal(reply.startTls, true);
  session.tlsStarted();
  assert.equal(session.state, 'Initial');
  assert.match(await say('MAIL FROM:<a@remote.example>'), /^503 5\.5\.1 /);
});

test('STARTTLS when already encrypted is 503, without a certificate 502, with an argument 501', async () => {
  assert.match(await connect({ secure: true }).say('STARTTLS'), /^503 5\.5\.1 TLS already active/);
  assert.match(await connect({ tlsAvailable: false }).say('STARTTLS'), /^502 5\.5\.1 STARTTLS not available/);
  assert.match(await connect().say('STARTTLS now'), /^501 /);
});

test('AUTH over plain text is refused with 538 5.7.11 unless explicitly allowed', async () => {
  const plain = connect();
  await plain.say('EHLO c.example');
  assert.equal(await plain.say(`AUTH PLAIN ${b64('\0alice@example.com\0sesame')}`), '538 5.7.11 Encryption required for requested authentication mechanism');
  const allowed = connect({ allowPlaintextAuth: true });
  await allowed.say('EHLO c.example');
  assert.equal(await allowed.say(`AUTH PLAIN ${b64('\0alice@example.com\0sesame')}`), '235 2.7.0 Authentication successful');
});

test('AUTH is not offered on the MX port (502)', async () => {
  const { say } = connect({ secure: true, authAvailable: false });
  assert.doesNotMatch(await say('EHLO c.example'), /AUTH/);
  assert.match(await say('AUTH PLAIN x'), /^502 5\.5\.1 /);
});

test('AUTH PLAIN with and without an initial response; a second AUTH is 503', async () => {
  const a = connect({ secure: true });
  await a.say('EHLO c.example');
  assert.equal(await a.say(`AUTH PLAIN ${b64('\0alice@example.com\0sesame')}`), '235 2.7.0 Authentication successful');
  assert.match(await a.say(`AUTH PLAIN ${b64('\0alice@example.com\0sesame')}`), /^503 5\.5\.1 Already authenticated/);
  const b = connect({ secure: true });
  await b.say('EHLO c.example');
  assert.equal(await b.say('AUTH PLAIN'), '334 ');
  assert.equal(await b.say(b64('alice@example.com\0alice@example.com\0sesame')), '235 2.7.0 Authentication successful');
});

test('AUTH LOGIN asks for the user name and the password in base64', async () => {
  const { say } = connect({ secure: true });
  await say('EHLO c.example');
  assert.equal(await say('AUTH LOGIN'), `334 ${b64('Username:')}`);
  assert.equal(await say(b64('alice@example.com')), `334 ${b64('Password:')}`);
  assert.equal(await say(b64('sesame')), '235 2.7.0 Authentication successful');
});

test('failed, cancelled, undecodable, unknown-mechanism and locked AUTH get their own replies', async () => {
  const { say } = connect({ secure: true });
  await say('EHLO c.example');
  assert.equal(await say(`AUTH PLAIN ${b64('\0alice@example.com\0wrong')}`), '535 5.7.8 Authentication credentials invalid');
  assert.equal(await say(`AUTH PLAIN ${b64('bob@example.com\0alice@example.com\0sesame')}`), '535 5.7.8 Authentication credentials invalid');
  await say('AUTH LOGIN');
  assert.equal(await say('*'), '501 5.0.0 Authentication cancelled');
  assert.match(await say('AUTH PLAIN %%%'), /^501 5\.5\.2 /);
  assert.match(await say('AUTH CRAM-MD5'), /^504 5\.5\.4 /);
  const locked = connect({ secure: true }, { authenticate: async () => ({ ok: false, locked: true, retryAfterMs: 900_000 }) });
  await locked.say('EHLO c.example');
  assert.equal(await locked.say(`AUTH PLAIN ${b64('\0alice@example.com\0sesame')}`), '454 4.7.0 Too many failed authentications; try again in 15 minutes');
  const broken = connect({ secure: true }, { authenticate: async () => Promise.reject(new Error('store down')) });
  await broken.say('EHLO c.example');
  assert.match(await broken.say(`AUTH PLAIN ${b64('\0alice@example.com\0sesame')}`), /^454 4\.7\.0 Temporary/);
});

test('AUTH inside a mail transaction is 503', async () => {
  const { say } = connect({ secure: true, authRequired: false });
  await say('EHLO c.example');
  await say('MAIL FROM:<x@remote.example>');
  assert.match(await say(`AUTH PLAIN ${b64('\0alice@example.com\0sesame')}`), /^503 5\.5\.1 /);
});

test('submission: MAIL before AUTH is 530 5.7.0', async () => {
  const { say } = connect({ secure: true, authRequired: true });
  await say('EHLO c.example');
  assert.equal(await say('MAIL FROM:<alice@example.com>'), '530 5.7.0 Authentication required');
});

test('a verb\'s policy answers in its order: state first (503), then not offered (502), already authenticated (503), no TLS (538), no AUTH (530)', async () => {
  const b = b64('\0alice@example.com\0sesame');
  const submission = connect({ authRequired: true });
  assert.match(await submission.say('MAIL FROM:<alice@example.com>'), /^503 5\.5\.1 Send HELO\/EHLO first/, 'out of sequence before 530');
  const mx = connect({ authAvailable: false });
  await mx.say('EHLO c.example');
  assert.match(await mx.say(`AUTH PLAIN ${b}`), /^502 5\.5\.1 AUTH not available on this port/, 'not offered here, before 538');
  const done = connect({ secure: true });
  await done.say('EHLO c.example');
  assert.match(await done.say(`AUTH PLAIN ${b}`), /^235 /);
  assert.match(await done.say(`AUTH PLAIN ${b}`), /^503 5\.5\.1 Already authenticated/);
});

test('an authenticated user sends only as itself (553 5.7.1 otherwise), may use <>, and may relay', async () => {
  const { say, send, enqueued } = connect({ secure: true, authRequired: true });
  await say('EHLO c.example');
  await say(`AUTH PLAIN ${b64('\0alice@example.com\0sesame')}`);
  assert.equal(await say('MAIL FROM:<mallory@example.com>'), '553 5.7.1 Sender address not owned by alice@example.com');
  assert.equal(await say('MAIL FROM:<>'), '250 2.1.0 Sender OK');
  await say('RSET');
  assert.equal(await say('MAIL FROM:<Alice@Example.com>'), '250 2.1.0 Sender OK');
  assert.equal(await say('RCPT TO:<friend@elsewhere.example>'), '250 2.1.5 Recipient OK');
  assert.match(await say('DATA'), /^354/);
  assert.equal(await send('Subject: hi\r\n\r\nx\r\n.\r\n'), '250 2.0.0 OK: queued as Q1');
  assert.match(enqueued[0]!.message, /with ESMTPSA id Q1/);
});

test('without sender ownership enforcement any sender is accepted after AUTH', async () => {
  const { say } = connect({ secure: true, enforceSenderOwnership: false });
  await say('EHLO c.example');
  await say(`AUTH PLAIN ${b64('\0alice@example.com\0sesame')}`);
  assert.equal(await say('MAIL FROM:<newsletter@example.com>'), '250 2.1.0 Sender OK');
});

test('the per-session message limit closes the session with 421; the per-address rate gives 450 4.7.1', async () => {
  const { say, send } = connect({ secure: true, authAvailable: false }, {}, { maxMessagesPerConnection: 1 });
  await say('EHLO c.example');
  await say('MAIL FROM:<a@remote.example>');
  await say('RCPT TO:<bob@example.com>');
  await say('DATA');
  assert.match(await send('Subject: 1\r\n\r\nx\r\n.\r\n'), /^250 /);
  assert.match(await say('MAIL FROM:<a@remote.example>'), /^421 4\.7\.0 Too many messages in one session/);
  const limited = connect({}, { admitMessage: () => false });
  await limited.say('EHLO c.example');
  assert.match(await limited.say('MAIL FROM:<a@remote.example>'), /^450 4\.7\.1 /);
});

test('recipients per session and per address are limited with 452 4.5.3, and the session goes on', async () => {
  const { say } = connect({ authAvailable: false }, {}, { maxRecipientsPerConnection: 2 });
  await say('EHLO c.example');
  await say('MAIL FROM:<a@remote.example>');
  assert.match(await say('RCPT TO:<bob@example.com>'), /^250 /);
  assert.match(await say('RCPT TO:<carol@example.com>'), /^250 /);
  assert.match(await say('RCPT TO:<bob@example.com>'), /^250 /, 'a repeated recipient costs nothing');
  assert.equal(await say('RCPT TO:<dave@example.com>'), '452 4.5.3 Too many recipients in this session; reconnect to send more');
  let admitted = 1;
  const limited = connect({ authAvailable: false }, { admitRecipient: () => admitted-- > 0 });
  await limited.say('EHLO c.example');
  await limited.say('MAIL FROM:<a@remote.example>');
  assert.match(await limited.say('RCPT TO:<bob@example.com>'), /^250 /);
  assert.equal(await limited.say('RCPT TO:<carol@example.com>'), '452 4.5.3 Too many recipients from your address; try again later');
  assert.match(await limited.say('NOOP'), /^250 /);
});
