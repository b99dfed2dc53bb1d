// The session's part in mail authentication: the check is fed the data as it arrives, its result is one
// Authentication-Results field right under our Received, a claim of our authserv-id from outside is
// removed, the policy's refusals are 550 5.7.1 / 451 4.7.1, and authenticated submission is not checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SmtpSession, type Envelope, type SessionContext } from './session.js';
import { commandReply, storeInMemory } from './session.test-support.js';
import { formatReply } from './replies.js';
import { parseAllowList, type AuthPolicy } from '../auth/policy.js';
import type { MessageCheck, MessageIdentity } from '../auth/verification.js';
import type { AuthVerdict } from '../auth/verdict.js';

const PASS: AuthVerdict = {
  results: [
    { method: 'spf', result: 'pass', properties: [['smtp.mailfrom', 'a@sender.example']] },
    { method: 'dkim', result: 'pass', properties: [['header.d', 'sender.example']] },
    { method: 'dmarc', result: 'pass', properties: [['header.from', 'sender.example']] },
  ],
  authorDomain: 'sender.example',
  dmarc: { result: 'pass', policy: 'reject' },
  temporaryFailure: false,
};
const FAIL: AuthVerdict = { ...PASS, results: [{ method: 'dmarc', result: 'fail', properties: [['header.from', 'sender.example']] }], dmarc: { result: 'fail', policy: 'reject' } };

const ENFORCE: AuthPolicy = { mode: 'enforce', byDomain: new Map(), onTemporaryFailure: 'accept', allow: parseAllowList('') };

/** A session whose verification hook records what it was fed and answers `verdict`. */
function connect(verdict: AuthVerdict, context: Partial<SessionContext> = {}) {
  const checks: { identity: MessageIdentity; fed: Buffer[]; aborted: boolean }[] = [];
  const enqueued: { envelope: Envelope; message: string }[] = [];
  const session = new SmtpSession(
    { serverName: 'mx.example.net', clientAddress: '192.0.2.1', now: () => new Date(Date.UTC(2026, 10, 30)), ...context },
    { maxMessageBytes: 10_000, maxRecipients: 10, maxErrors: 50, bareLineEndings: 'reject' },
    {
      checkRecipient: async () => 'local',
      storeMessage: storeInMemory(async (_id, envelope, message) => void enqueued.push({ envelope, message: message.toString('latin1') })),
      newQueueId: () => 'Q1',
      authenticate: async (user) => ({ ok: true, mailbox: user }),
      verifyMessage: (identity): MessageCheck => {
        const record = { identity, fed: [] as Buffer[], aborted: false };
        checks.push(record);
        return { write: (chunk) => void record.fed.push(Buffer.from(chunk)), finish: async () => verdict, abort: () => void (record.aborted = true) };
      },
    },
  );
  const say = async (line: string) => formatReply(await commandReply(session, line)).trimEnd();
  /** DATA in two pieces, the way the connection hands them to the session, then the final reply. */
  const send = async (data: string) => {
    assert.match(await say('DATA'), /^354/);
    const bytes = Buffer.from(data, 'latin1');
    session.pushData(bytes.subarray(0, 7));
    session.pushData(bytes.subarray(7));
    return formatReply(await session.finishData()).trimEnd();
  };
  return { session, say, send, checks, enqueued };
}

async function transaction(client: ReturnType<typeof connect>) {
  assert.match(await client.say('EHLO client.sender.example'), /^250/);
  assert.match(await client.say('MAIL FROM:<a@sender.example>'), /^250/);
  assert.match(await client.say('RCPT TO:<bob@example.com>'), /^250/);
}

const BODY = 'From: a@sender.example\r\nAuthentication-Results: mx.example.net; dmarc=pass\r\nSubject: hi\r\n\r\nHello.\r\n';

test('the check sees the client, HELO and MAIL FROM, and every byte of the data as it streams', async () => {
  const client = connect(PASS);
  await transaction(client);
  assert.match(await client.send(`${BODY}.\r\n`), /^250 2\.0\.0 OK: queued as Q1$/);
  assert.deepEqual(client.checks[0]!.identity, { clientAddress: '192.0.2.1', helo: 'client.sender.example', sender: 'a@sender.example' });
  assert.ok(client.checks[0]!.fed.length >= 2, 'fed piece by piece, not at the end');
  assert.equal(Buffer.concat(client.checks[0]!.fed).toString('latin1'), BODY);
});

test('Received comes first, then our Authentication-Results; a spoofed one naming us is gone', async () => {
  const client = connect(PASS);
  await transaction(client);
  await client.send(`${BODY}.\r\n`);
  const message = client.enqueued[0]!.message;
  const [, received, results, rest] = /^(Received:.*\r\n(?:\t.*\r\n)*)(Authentication-Results:.*\r\n(?:\t.*\r\n)*)([^]*)$/.exec(message) ?? [];
  assert.match(received!, /^Received: from client\.sender\.example /);
  assert.equal(results, 'Authentication-Results: mx.example.net;\r\n\tspf=pass smtp.mailfrom=a@sender.example;\r\n\tdkim=pass header.d=sender.example;\r\n\tdmarc=pass header.from=sender.example\r\n');
  assert.equal(rest, 'From: a@sender.example\r\nSubject: hi\r\n\r\nHello.\r\n');
  assert.equal((message.match(/^Authentication-Results:/gm) ?? []).length, 1);
});

test('the authserv-id is configurable', async () => {
  const client = connect(PASS, { authservId: 'auth.example.net' });
  await transaction(client);
  await client.send('Authentication-Results: auth.example.net; none\r\nAuthentication-Results: mx.example.net; none\r\n\r\nx\r\n.\r\n');
  const message = client.enqueued[0]!.message;
  assert.match(message, /^Received: [^]*\r\nAuthentication-Results: auth\.example\.net;\r\n/);
  assert.doesNotMatch(message, /auth\.example\.net; none/);
  assert.match(message, /Authentication-Results: mx\.example\.net; none/, 'another authserv-id is not ours to remove');
});

test('enforce: a DMARC failure under p=reject is answered 550 5.7.1 and nothing is queued', async () => {
  const client = connect(FAIL, { authPolicy: ENFORCE });
  await transaction(client);
  assert.equal(await client.send(`${BODY}.\r\n`), '550 5.7.1 Message rejected: authentication (DMARC) of sender.example failed, and its policy is reject');
  assert.equal(client.enqueued.length, 0);
  assert.equal(client.session.state, 'Ready');
});

test('enforce: under p=quarantine the message is deferred with 451 4.7.1', async () => {
  const client = connect({ ...FAIL, dmarc: { result: 'fail', policy: 'quarantine' } }, { authPolicy: ENFORCE });
  await transaction(client);
  assert.match(await client.send(`${BODY}.\r\n`), /^451 4\.7\.1 /);
  assert.equal(client.enqueued.length, 0);
});

test('mark (no policy): the failing message is accepted and marked dmarc=fail', async () => {
  const client = connect(FAIL);
  await transaction(client);
  assert.match(await client.send(`${BODY}.\r\n`), /^250 /);
  assert.match(client.enqueued[0]!.message, /\r\nAuthentication-Results: mx\.example\.net;\r\n\tdmarc=fail header\.from=sender\.example\r\n/);
});

test('authenticated submission is not checked, but a claim of our authserv-id is still removed', async () => {
  const client = connect(FAIL, { authPolicy: ENFORCE, authAvailable: true, allowPlaintextAuth: true });
  assert.match(await client.say('EHLO laptop.example'), /^250/);
  assert.match(await client.say(`AUTH PLAIN ${Buffer.from('\0a@sender.example\0pw').toString('base64')}`), /^235/);
  assert.match(await client.say('MAIL FROM:<a@sender.example>'), /^250/);
  assert.match(await client.say('RCPT TO:<bob@example.com>'), /^250/);
  assert.match(await client.send(`${BODY}.\r\n`), /^250 /);
  assert.equal(client.checks.length, 0);
  assert.doesNotMatch(client.enqueued[0]!.message, /Authentication-Results/);
});

test('an oversize message abandons its check', async () => {
  const client = connect(PASS);
  await transaction(client);
  assert.match(await client.send(`Subject: big\r\n\r\n${'x'.repeat(12_000)}\r\n.\r\n`), /^552 /);
  assert.equal(client.checks[0]!.aborted, true);
});
