// SmtpSession against RFC 5321 §4.1-§4.3, RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 2034 (enhanced
// status codes) and RFC 6531 (SMTPUTF8). Each test is one rule, written as the client/server dialogue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SmtpSession, type Envelope, type RecipientVerdict, type SessionContext, type SessionLimits } from './session.js';
import { commandReply, storeInMemory } from './session.test-support.js';
import { formatReply, type Reply } from './replies.js';

/** The directory behind the fake checkRecipient: example.com is local, everything else is remote. */
const LOCAL_USERS = new Set(['alice@example.com', 'bob@example.com', 'carol@example.com', 'dave@example.com', 'postmaster@example.com']);

function verdictFor(address: string): RecipientVerdict {
  const lower = address.toLowerCase();
  if (lower === 'postmaster') return 'local';
  const domain = lower.slice(lower.lastIndexOf('@') + 1);
  if (domain !== 'example.com' && domain !== 'exämple.com') return 'remote';
  return LOCAL_USERS.has(lower) || lower.startsWith('jösé@') ? 'local' : 'unknown-user';
}

interface Enqueued {
  queueId: string;
  envelope: Envelope;
  message: string;
}

/** Hooks as a plain object that records every call. */
function fakeHooks(options: { recipientLookupFails?: boolean; enqueueFails?: boolean } = {}) {
  let next = 0;
  const hooks = {
    checked: [] as string[],
    enqueued: [] as Enqueued[],
    enqueueCalls: 0,
    async checkRecipient(address: string): Promise<RecipientVerdict> {
      hooks.checked.push(address);
      if (options.recipientLookupFails) throw new Error('mailbox-store unavailable');
      return verdictFor(address);
    },
    async enqueue(queueId: string, envelope: Envelope, message: Buffer): Promise<void> {
      hooks.enqueueCalls++;
      if (options.enqueueFails) throw new Error('spool not durable');
      hooks.enqueued.push({ queueId, envelope: structuredClone(envelope), message: message.toString('utf8') });
    },
    newQueueId(): string {
      next++;
      return `Q${next}`;
    },
    storeMessage: storeInMemory((queueId, envelope, message): Promise<void> => hooks.enqueue(queueId, envelope, message)),
  };
  return hooks;
}

const NOW = new Date(Date.UTC(2026, 10, 29, 14, 0, 0));

interface Options {
  limits?: Partial<SessionLimits>;
  context?: Partial<SessionContext>;
  hooks?: Parameters<typeof fakeHooks>[0];
}

/** A session plus a client that speaks to it line by line; every reply is returned in its wire form. */
function connect(options: Options = {}) {
  const limits: SessionLimits = { maxMessageBytes: 10_000, maxRecipients: 3, maxErrors: 50, bareLineEndings: 'reject', ...options.limits };
  const context: SessionContext = { serverName: 'mx.example.net', clientAddress: '192.0.2.10', now: () => NOW, ...options.context };
  const hooks = fakeHooks(options.hooks);
  const session = new SmtpSession(context, limits, hooks);
  const replies: Reply[] = [];
  const record = (r: Reply) => {
    replies.push(r);
    return r;
  };
  return {
    session,
    hooks,
    replies,
    greeting: () => wire(record(session.greeting())),
    /** C: line  ->  S: reply (wire form, without the final CRLF). */
    say: async (line: string) => wire(record(await commandReply(session, line))),
    /** After a 354: sends the message data (which must end with CRLF.CRLF) and returns the final reply. */
    send: async (data: string | Buffer) => {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      const used = session.pushData(bytes);
      assert.equal(used, bytes.length, 'the data ends with the terminator');
      return wire(record(await session.finishData()));
    },
    /**
     * C: a BDAT line and its chunk (the line's size is the chunk's, unless given)  ->  S: the reply after
     * the chunk. Bytes after the chunk (pipelined commands) must be left unread.
     */
    chunk: async (data: string | Buffer, options: { last?: boolean; size?: number; after?: string } = {}) => {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      const size = options.size ?? bytes.length;
      const now = await session.command(`BDAT ${size}${options.last ? ' LAST' : ''}`);
      if (now !== undefined) return wire(record(now)); // answered at once (a size of 0)
      assert.equal(session.readingData, true, 'the chunk is awaited');
      const used = session.pushData(Buffer.concat([bytes, Buffer.from(options.after ?? '')]));
      assert.equal(used, size, 'exactly the announced octets are taken');
      return wire(record(await session.finishData()));
    },
  };
}

const wire = (r: Reply) => formatReply(r).replace(/\r\n$/, '');

/** A client that has already said EHLO. */
async function greeted(options: Options = {}) {
  const client = connect(options);
  client.greeting();
  assert.match(await client.say('EHLO client.example'), /^250 /m);
  return client;
}

/** A client in the middle of a transaction: EHLO, MAIL, RCPT alice. */
async function withRecipient(options: Options = {}) {
  const client = await greeted(options);
  assert.equal(await client.say('MAIL FROM:<sender@remote.example>'), '250 2.1.0 Sender OK');
  assert.equal(await client.say('RCPT TO:<alice@example.com>'), '250 2.1.5 Recipient OK');
  return client;
}

const MESSAGE = 'Subject: hello\r\n\r\nHi Alice.\r\n.\r\n';

// --- Connection opening and greeting (§4.1.1.1, §4.2) -------------------------------------------------

test('the greeting is 220 with the server name', () => {
  const c = connect();
  assert.equal(c.greeting(), '220 mx.example.net ESMTP ready');
});

test('EHLO is answered 250 with the extension list', async () => {
  const c = connect();
  c.greeting();
  assert.equal(
    await c.say('EHLO client.example'),
    [
      '250-mx.example.net Hello client.example [192.0.2.10]',
      '250-PIPELINING',
      '250-SIZE 10000',
      '250-8BITMIME',
      '250-ENHANCEDSTATUSCODES',
      '250-SMTPUTF8',
      '250-CHUNKING',
      '250-BINARYMIME',
      '250-DSN',
      '250 HELP',
    ].join('\r\n'),
  );
  assert.equal(c.session.state, 'Ready');
});

test('HELO is answered 250 with one line and no extensions', async () => {
  const c = connect();
  c.greeting();
  assert.equal(await c.say('HELO client.example'), '250 mx.example.net');
  assert.equal(c.session.clientName, 'client.example');
});

test('EHLO and HELO accept an address literal', async () => {
  const c = connect();
  assert.match(await c.say('EHLO [192.0.2.10]'), /^250-mx\.example\.net Hello \[192\.0\.2\.10\]/);
  assert.equal(await c.say('HELO [IPv6:2001:db8::1]'), '250 mx.example.net');
});

test('EHLO or HELO without an argument is answered 501', async () => {
  const c = connect();
  assert.equal(await c.say('EHLO'), '501 5.5.4 Syntax: EHLO <domain or address literal>');
  assert.equal(await c.say('HELO '), '501 5.5.4 Syntax: HELO <domain or address literal>');
  assert.equal(await c.say('EHLO two words'), '501 5.5.4 Syntax: EHLO <domain or address literal>');
  assert.equal(c.session.state, 'Initial');
});

test('verbs are case-insensitive', async () => {
  const c = connect();
  assert.match(await c.say('ehlo client.example'), /^250-/);
  assert.equal(await c.say('mail from:<sender@remote.example>'), '250 2.1.0 Sender OK');
  assert.equal(await c.say('rcpt to:<alice@example.com>'), '250 2.1.5 Recipient OK');
});

// --- Sequencing (§4.1.4, §4.3.2) -----------------------------------------------------------------------

test('MAIL before EHLO/HELO is answered 503', async () => {
  const c = connect();
  c.greeting();
  assert.equal(await c.say('MAIL FROM:<sender@remote.example>'), '503 5.5.1 Send HELO/EHLO first, or finish the current transaction (RSET)');
});

test('MAIL inside a transaction is answered 503', async () => {
  const c = await greeted();
  assert.equal(await c.say('MAIL FROM:<sender@remote.example>'), '250 2.1.0 Sender OK');
  assert.match(await c.say('MAIL FROM:<other@remote.example>'), /^503 5\.5\.1 /);
  // The first transaction is intact.
  assert.equal(await c.say('RCPT TO:<alice@example.com>'), '250 2.1.5 Recipient OK');
});

test('RCPT before MAIL is answered 503', async () => {
  const c = await greeted();
  assert.equal(await c.say('RCPT TO:<alice@example.com>'), '503 5.5.1 Need MAIL before RCPT');
  assert.deepEqual(c.hooks.checked, []);
});

test('DATA before MAIL is answered 503', async () => {
  const c = await greeted();
  assert.equal(await c.say('DATA'), '503 5.5.1 Need MAIL and RCPT before DATA');
});

test('DATA before any RCPT is answered 503', async () => {
  const c = await greeted();
  await c.say('MAIL FROM:<sender@remote.example>');
  assert.equal(await c.say('DATA'), '503 5.5.1 Need RCPT before DATA');
  assert.equal(c.session.state, 'Mail');
});

test('DATA after only refused recipients is answered 554', async () => {
  const c = await greeted();
  await c.say('MAIL FROM:<sender@remote.example>');
  assert.match(await c.say('RCPT TO:<nobody@example.com>'), /^550 5\.1\.1 /);
  assert.match(await c.say('RCPT TO:<someone@remote.example>'), /^550 5\.7\.1 /);
  assert.equal(await c.say('DATA'), '554 5.5.1 No valid recipients');
});

test('DATA with an argument is answered 501', async () => {
  const c = await withRecipient();
  assert.equal(await c.say('DATA now'), '501 5.5.4 DATA takes no arguments');
  assert.equal(c.session.state, 'Recipients');
});

test('DATA after an accepted recipient is answered 354', async () => {
  const c = await withRecipient();
  assert.equal(await c.say('DATA'), '354 End data with <CR><LF>.<CR><LF>');
  assert.equal(c.session.state, 'Data');
});

// --- RSET, NOOP, QUIT, VRFY, EXPN, HELP (§4.1.1.5-§4.1.1.10) ---------------------------------------------

test('RSET ends the transaction and keeps the greeting', async () => {
  const c = await withRecipient();
  assert.equal(await c.say('RSET'), '250 2.0.0 Reset OK');
  assert.equal(c.session.state, 'Ready');
  assert.equal(c.session.inTransaction, false);
  assert.match(await c.say('RCPT TO:<alice@example.com>'), /^503 /);
  assert.equal(await c.say('MAIL FROM:<sender@remote.example>'), '250 2.1.0 Sender OK');
});

test('RSET before EHLO is answered 250 and the client still has to greet', async () => {
  const c = connect();
  assert.equal(await c.say('RSET'), '250 2.0.0 Reset OK');
  assert.equal(c.session.state, 'Initial');
});

test('RSET with an argument is answered 501', async () => {
  const c = await withRecipient();
  assert.equal(await c.say('RSET all'), '501 5.5.4 RSET takes no arguments');
  assert.equal(c.session.state, 'Recipients');
});

test('NOOP is answered 250 in every state and changes nothing', async () => {
  const c = connect();
  assert.equal(await c.say('NOOP'), '250 2.0.0 OK');
  await c.say('EHLO client.example');
  await c.say('MAIL FROM:<sender@remote.example>');
  assert.equal(await c.say('NOOP'), '250 2.0.0 OK');
  assert.equal(c.session.state, 'Mail');
});

test('QUIT is answered 221 and closes the session', async () => {
  const c = await withRecipient();
  const reply = await commandReply(c.session, 'QUIT');
  assert.equal(wire(reply), '221 2.0.0 Bye');
  assert.equal(reply.close, true);
  assert.equal(c.session.state, 'Closed');
  assert.match(await c.say('NOOP'), /^503 /);
});

test('QUIT before EHLO is answered 221', async () => {
  const c = connect();
  assert.equal(await c.say('QUIT'), '221 2.0.0 Bye');
});

test('VRFY is answered 252 whether or not the user exists (no enumeration)', async () => {
  const c = await greeted();
  const known = await c.say('VRFY alice@example.com');
  const unknown = await c.say('VRFY nobody@example.com');
  assert.equal(known, '252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery');
  assert.equal(unknown, known);
  assert.deepEqual(c.hooks.checked, []);
});

test('VRFY without an argument is answered 501', async () => {
  const c = await greeted();
  assert.equal(await c.say('VRFY'), '501 5.5.4 Syntax: VRFY <address>');
});

test('EXPN is answered 502', async () => {
  const c = await greeted();
  assert.equal(await c.say('EXPN staff'), '502 5.5.1 EXPN is disabled');
});

test('HELP is answered 214', async () => {
  const c = connect();
  assert.equal(await c.say('HELP'), '214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP\r\n214 2.0.0 See RFC 5321 for details');
});

test('an unknown verb is answered 500 5.5.2 and the session goes on', async () => {
  const c = await greeted();
  assert.equal(await c.say('FOO bar'), '500 5.5.2 Command unrecognized');
  assert.equal(await c.say(''), '500 5.5.2 Command unrecognized');
  assert.equal(c.session.state, 'Ready');
  assert.equal(await c.say('MAIL FROM:<sender@remote.example>'), '250 2.1.0 Sender OK');
});

test('a command line over the length limit is answered 500 5.5.2', async () => {
  const c = await greeted();
  assert.equal(wire(c.session.lineTooLong(512)), '500 5.5.2 Line too long (at most 512 octets)');
  assert.equal(c.session.state, 'Ready');
});

test('recognised but unoffered verbs (STARTTLS, AUTH, TURN) are answered 502', async () => {
  const c = await greeted();
  for (const verb of ['STARTTLS', 'AUTH PLAIN', 'TURN']) assert.match(await c.say(verb), /^502 5\.5\.1 /, verb);
});

// --- MAIL (§4.1.1.2, RFC 1870, RFC 6152, RFC 6531) --------------------------------------------------------

test('the null reverse-path MAIL FROM:<> is accepted', async () => {
  const c = await greeted();
  assert.equal(await c.say('MAIL FROM:<>'), '250 2.1.0 Sender OK');
  await c.say('RCPT TO:<alice@example.com>');
  await c.say('DATA');
  assert.match(await c.send(MESSAGE), /^250 /);
  assert.equal(c.hooks.enqueued[0]!.envelope.sender, '');
});

test('MAIL with a bad address is answered 501 5.1.7', async () => {
  const c = await greeted();
  assert.equal(await c.say('MAIL FROM:<no-at-sign>'), '501 5.1.7 Bad address syntax: address must be local-part@domain');
  assert.equal(await c.say('MAIL FROM:sender@remote.example'), '501 5.1.7 Address must be enclosed in <>');
  assert.equal(await c.say('MAIL TO:<sender@remote.example>'), '501 5.1.7 Syntax: MAIL FROM:<address>');
  assert.equal(await c.say('MAIL FROM:<sender@remote.example'), '501 5.1.7 Missing closing >');
  assert.equal(c.session.state, 'Ready');
});

test('MAIL with SIZE over the limit is answered 552 5.3.4', async () => {
  const c = await greeted();
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> SIZE=10001'), '552 5.3.4 Message size exceeds fixed limit of 10000 bytes');
  assert.equal(c.session.state, 'Ready');
});

test('MAIL with SIZE at the limit is accepted and the size recorded', async () => {
  const c = await greeted();
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> SIZE=10000'), '250 2.1.0 Sender OK');
  await c.say('RCPT TO:<alice@example.com>');
  await c.say('DATA');
  await c.send(MESSAGE);
  assert.equal(c.hooks.enqueued[0]!.envelope.declaredSize, 10000);
});

test('MAIL with SIZE that is not a number is answered 501', async () => {
  const c = await greeted();
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> SIZE=big'), '501 5.5.4 SIZE needs a number');
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> SIZE'), '501 5.5.4 SIZE needs a number');
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> SIZE=-1'), '501 5.5.4 SIZE needs a number');
});

test('MAIL with BODY=8BITMIME or BODY=7BIT is accepted', async () => {
  const c = await greeted();
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> BODY=8BITMIME'), '250 2.1.0 Sender OK');
  await c.say('RCPT TO:<alice@example.com>');
  await c.say('DATA');
  await c.send(MESSAGE);
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> body=7bit'), '250 2.1.0 Sender OK');
  await c.say('RCPT TO:<alice@example.com>');
  await c.say('DATA');
  await c.send(MESSAGE);
  assert.deepEqual(
    c.hooks.enqueued.map((e) => e.envelope.eightBitMime),
    [true, false],
  );
});

test('MAIL with another BODY value is answered 501', async () => {
  const c = await greeted();
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> BODY=8BIT'), '501 5.5.4 BODY must be 7BIT, 8BITMIME or BINARYMIME');
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> BODY'), '501 5.5.4 BODY must be 7BIT, 8BITMIME or BINARYMIME');
});

test('MAIL with an unknown parameter is answered 555', async () => {
  const c = await greeted();
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> MT-PRIORITY=3'), '555 5.5.4 Unsupported parameter MT-PRIORITY');
});

test('RCPT with an unknown parameter is answered 555, before any lookup', async () => {
  const c = await greeted();
  await c.say('MAIL FROM:<sender@remote.example>');
  assert.equal(await c.say('RCPT TO:<alice@example.com> NOTIFY=NEVER XYZ=1'), '555 5.5.4 Unsupported parameter XYZ');
  assert.deepEqual(c.hooks.checked, []);
});

test('MAIL parameters after HELO (not EHLO) are refused', async () => {
  const c = connect();
  await c.say('HELO client.example');
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> SIZE=100'), '555 5.5.4 Unsupported parameter SIZE');
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> BODY=8BITMIME'), '555 5.5.4 Unsupported parameter BODY');
  assert.equal(await c.say('MAIL FROM:<sender@remote.example>'), '250 2.1.0 Sender OK');
});

test('a UTF-8 sender without SMTPUTF8 is answered 553 5.6.7', async () => {
  const c = await greeted();
  assert.equal(await c.say('MAIL FROM:<jösé@exämple.com>'), '553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter');
});

test('a UTF-8 recipient without SMTPUTF8 is answered 553 5.6.7', async () => {
  const c = await greeted();
  await c.say('MAIL FROM:<sender@remote.example>');
  assert.equal(await c.say('RCPT TO:<jösé@example.com>'), '553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter');
});

test('UTF-8 addresses are accepted with SMTPUTF8', async () => {
  const c = await greeted();
  assert.equal(await c.say('MAIL FROM:<jösé@exämple.com> SMTPUTF8'), '250 2.1.0 Sender OK');
  assert.equal(await c.say('RCPT TO:<jösé@example.com>'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('DATA'), '354 End data with <CR><LF>.<CR><LF>');
  assert.equal(await c.send('Subject: café\r\n\r\nÇa va ?\r\n.\r\n'), '250 2.0.0 OK: queued as Q1');
  const [entry] = c.hooks.enqueued;
  assert.equal(entry!.envelope.smtputf8, true);
  assert.equal(entry!.envelope.sender, 'jösé@exämple.com');
  assert.deepEqual(entry!.envelope.recipients, ['jösé@example.com']);
  assert.match(entry!.message, /with UTF8SMTP id Q1/);
});

test('SMTPUTF8 with a value is answered 501', async () => {
  const c = await greeted();
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> SMTPUTF8=yes'), '501 5.5.4 SMTPUTF8 takes no value');
});

// --- RCPT (§4.1.1.3, §4.5.1, §4.5.3.1.8) --------------------------------------------------------------------

test('RCPT with a bad address is answered 501 5.1.3', async () => {
  const c = await greeted();
  await c.say('MAIL FROM:<sender@remote.example>');
  assert.equal(await c.say('RCPT TO:<alice@@example.com>'), '501 5.1.3 Bad address syntax: invalid local part');
  assert.equal(await c.say('RCPT TO:<>'), '501 5.1.3 Null path not allowed here');
  assert.equal(await c.say('RCPT FROM:<alice@example.com>'), '501 5.1.3 Syntax: RCPT TO:<address>');
});

test('an unknown local user is answered 550 5.1.1', async () => {
  const c = await greeted();
  await c.say('MAIL FROM:<sender@remote.example>');
  assert.equal(await c.say('RCPT TO:<nobody@example.com>'), '550 5.1.1 User unknown in local recipient table');
  assert.deepEqual(c.hooks.checked, ['nobody@example.com']);
});

test('a remote recipient from an unauthenticated client is answered 550 5.7.1 (no open relay)', async () => {
  const c = await greeted();
  await c.say('MAIL FROM:<sender@remote.example>');
  assert.equal(await c.say('RCPT TO:<someone@elsewhere.example>'), '550 5.7.1 Relay access denied');
  assert.equal(c.session.state, 'Mail');
});

test('a remote recipient from an authenticated client is accepted', async () => {
  const c = await greeted({ context: { authenticatedAs: 'alice@example.com' } });
  await c.say('MAIL FROM:<alice@example.com>');
  assert.equal(await c.say('RCPT TO:<someone@elsewhere.example>'), '250 2.1.5 Recipient OK');
  await c.say('DATA');
  await c.send(MESSAGE);
  assert.match(c.hooks.enqueued[0]!.message, /with ESMTPA id Q1/);
});

test('postmaster of a local domain and the bare <postmaster> are accepted', async () => {
  const c = await greeted();
  await c.say('MAIL FROM:<sender@remote.example>');
  assert.equal(await c.say('RCPT TO:<postmaster@example.com>'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('RCPT TO:<postmaster>'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('RCPT TO:<PostMaster>'), '250 2.1.5 Recipient OK'); // a repeat of <postmaster>
  assert.deepEqual(c.hooks.checked, ['postmaster@example.com', 'postmaster']);
});

test('recipients over the limit are answered 452 4.5.3', async () => {
  const c = await greeted(); // maxRecipients: 3
  await c.say('MAIL FROM:<sender@remote.example>');
  assert.equal(await c.say('RCPT TO:<alice@example.com>'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('RCPT TO:<bob@example.com>'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('RCPT TO:<carol@example.com>'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('RCPT TO:<dave@example.com>'), '452 4.5.3 Too many recipients (at most 3 per message)');
  assert.deepEqual(c.hooks.checked, ['alice@example.com', 'bob@example.com', 'carol@example.com']);
  await c.say('DATA');
  await c.send(MESSAGE);
  assert.deepEqual(c.hooks.enqueued[0]!.envelope.recipients, ['alice@example.com', 'bob@example.com', 'carol@example.com']);
});

test('a recipient named again is answered from the envelope without a lookup, kept once, and counted against the limit', async () => {
  const c = await greeted({ limits: { maxRecipients: 4 } });
  await c.say('MAIL FROM:<sender@remote.example>');
  assert.equal(await c.say('RCPT TO:<alice@example.com>'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('RCPT TO:<ALICE@example.com>'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('RCPT TO:<alice@example.com>'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('RCPT TO:<bob@example.com>'), '250 2.1.5 Recipient OK');
  // Four RCPTs answered 250: a fifth is one too many, whether repeated or new.
  assert.equal(await c.say('RCPT TO:<alice@example.com>'), '452 4.5.3 Too many recipients (at most 4 per message)');
  assert.match(await c.say('RCPT TO:<carol@example.com>'), /^452 4\.5\.3 /);
  assert.deepEqual(c.hooks.checked, ['alice@example.com', 'bob@example.com'], 'one lookup per distinct recipient');
  await c.say('DATA');
  await c.send(MESSAGE);
  assert.deepEqual(c.hooks.enqueued[0]!.envelope.recipients, ['alice@example.com', 'bob@example.com']);
});

test('the repeat count starts over with the next transaction', async () => {
  const c = await greeted({ limits: { maxRecipients: 2 } });
  await c.say('MAIL FROM:<sender@remote.example>');
  await c.say('RCPT TO:<alice@example.com>');
  await c.say('RCPT TO:<alice@example.com>');
  assert.match(await c.say('RCPT TO:<alice@example.com>'), /^452 4\.5\.3 /);
  await c.say('RSET');
  await c.say('MAIL FROM:<sender@remote.example>');
  assert.equal(await c.say('RCPT TO:<alice@example.com>'), '250 2.1.5 Recipient OK');
});

test('a recipient lookup that fails is answered 451 4.3.0', async () => {
  const c = await greeted({ hooks: { recipientLookupFails: true } });
  await c.say('MAIL FROM:<sender@remote.example>');
  assert.equal(await c.say('RCPT TO:<alice@example.com>'), '451 4.3.0 Temporary failure checking the recipient, try again later');
  assert.equal(c.session.state, 'Mail');
});

// --- DATA (§4.1.1.4, §4.4) ------------------------------------------------------------------------------

test('an accepted message is answered 250 with its queue id once enqueued', async () => {
  const c = await withRecipient();
  assert.equal(await c.say('DATA'), '354 End data with <CR><LF>.<CR><LF>');
  assert.equal(await c.send(MESSAGE), '250 2.0.0 OK: queued as Q1');
  assert.equal(c.hooks.enqueued.length, 1);
  const [entry] = c.hooks.enqueued;
  assert.equal(entry!.queueId, 'Q1');
  assert.deepEqual(entry!.envelope, {
    sender: 'sender@remote.example',
    recipients: ['alice@example.com'],
    localRecipients: ['alice@example.com'],
    smtputf8: false,
    eightBitMime: false,
    binaryMime: false,
    recipientDsn: [],
  });
  assert.equal(c.session.state, 'Ready');
  assert.equal(c.session.inTransaction, false);
});

test('a Received header naming the client, the queue id and the single recipient is prepended', async () => {
  const c = await withRecipient();
  await c.say('DATA');
  await c.send(MESSAGE);
  assert.equal(
    c.hooks.enqueued[0]!.message,
    'Received: from client.example ([192.0.2.10])\r\n' +
      '\tby mx.example.net (mailplatform) with ESMTP id Q1\r\n' +
      '\tfor <alice@example.com>;\r\n' +
      '\tSun, 29 Nov 2026 14:00:00 +0000\r\n' +
      'Subject: hello\r\n\r\nHi Alice.\r\n',
  );
});

test('the Received header has no "for" clause when there are several recipients', async () => {
  const c = await withRecipient();
  await c.say('RCPT TO:<bob@example.com>');
  await c.say('DATA');
  await c.send(MESSAGE);
  const message = c.hooks.enqueued[0]!.message;
  assert.equal(
    message,
    'Received: from client.example ([192.0.2.10])\r\n' +
      '\tby mx.example.net (mailplatform) with ESMTP id Q1;\r\n' +
      '\tSun, 29 Nov 2026 14:00:00 +0000\r\n' +
      'Subject: hello\r\n\r\nHi Alice.\r\n',
  );
  assert.doesNotMatch(message, /for </);
});

test('the Received header says SMTP after HELO and IPv6: for an IPv6 client', async () => {
  const c = connect({ context: { clientAddress: '2001:db8::7' } });
  await c.say('HELO client.example');
  await c.say('MAIL FROM:<sender@remote.example>');
  await c.say('RCPT TO:<alice@example.com>');
  await c.say('DATA');
  await c.send(MESSAGE);
  assert.match(c.hooks.enqueued[0]!.message, /^Received: from client\.example \(\[IPv6:2001:db8::7\]\)\r\n\tby mx\.example\.net \(mailplatform\) with SMTP id Q1\r\n/);
});

test('a message that cannot be enqueued is answered 451 4.3.0', async () => {
  const c = await withRecipient({ hooks: { enqueueFails: true } });
  await c.say('DATA');
  assert.equal(await c.send(MESSAGE), '451 4.3.0 Temporary failure storing the message, try again later');
  assert.equal(c.hooks.enqueueCalls, 1);
  assert.equal(c.session.state, 'Ready');
  // The client may start over in the same session.
  assert.equal(await c.say('MAIL FROM:<sender@remote.example>'), '250 2.1.0 Sender OK');
});

test('an oversize message is answered 552 and never enqueued', async () => {
  const c = await withRecipient({ limits: { maxMessageBytes: 100 } });
  await c.say('DATA');
  assert.equal(await c.send(`Subject: big\r\n\r\n${'x'.repeat(200)}\r\n.\r\n`), '552 5.3.4 Message size exceeds fixed limit of 100 bytes');
  assert.equal(c.hooks.enqueueCalls, 0);
  assert.equal(c.session.state, 'Ready');
});

test('a bare LF in the data is refused when the policy is reject', async () => {
  const c = await withRecipient({ limits: { bareLineEndings: 'reject' } });
  await c.say('DATA');
  assert.equal(await c.send('Subject: x\r\n\r\nline\nsmuggled\r\n.\r\n'), '550 5.5.2 Bare <CR> or <LF> in message data is not allowed; use <CR><LF>');
  assert.equal(c.hooks.enqueueCalls, 0);
});

test('a bare LF in the data is turned into CRLF and accepted when the policy is normalize', async () => {
  const c = await withRecipient({ limits: { bareLineEndings: 'normalize' } });
  await c.say('DATA');
  assert.equal(await c.send('Subject: x\r\n\r\nline\nnext\r\n.\r\n'), '250 2.0.0 OK: queued as Q1');
  assert.ok(c.hooks.enqueued[0]!.message.endsWith('Subject: x\r\n\r\nline\r\nnext\r\n'));
});

test('8-bit data marks the envelope 8BITMIME', async () => {
  const c = await withRecipient();
  await c.say('DATA');
  await c.send('Subject: x\r\n\r\ncafé\r\n.\r\n');
  assert.equal(c.hooks.enqueued[0]!.envelope.eightBitMime, true);
});

test('several transactions in one session get their own queue ids and envelopes', async () => {
  const c = await greeted();
  assert.equal(await c.say('MAIL FROM:<one@remote.example>'), '250 2.1.0 Sender OK');
  assert.equal(await c.say('RCPT TO:<alice@example.com>'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('DATA'), '354 End data with <CR><LF>.<CR><LF>');
  assert.equal(await c.send('Subject: one\r\n\r\n1\r\n.\r\n'), '250 2.0.0 OK: queued as Q1');
  assert.equal(await c.say('MAIL FROM:<two@remote.example>'), '250 2.1.0 Sender OK');
  assert.equal(await c.say('RCPT TO:<bob@example.com>'), '250 2.1.5 Recipient OK');
  assert.equal(await c.say('DATA'), '354 End data with <CR><LF>.<CR><LF>');
  assert.equal(await c.send('Subject: two\r\n\r\n2\r\n.\r\n'), '250 2.0.0 OK: queued as Q2');
  assert.equal(await c.say('QUIT'), '221 2.0.0 Bye');
  assert.deepEqual(
    c.hooks.enqueued.map((e) => [e.queueId, e.envelope.sender, e.envelope.recipients]),
    [
      ['Q1', 'one@remote.example', ['alice@example.com']],
      ['Q2', 'two@remote.example', ['bob@example.com']],
    ],
  );
});

test('EHLO in the middle of a transaction resets it', async () => {
  const c = await withRecipient();
  assert.match(await c.say('EHLO client.example'), /^250-/);
  assert.equal(c.session.inTransaction, false);
  assert.match(await c.say('RCPT TO:<alice@example.com>'), /^503 /);
});

// --- Limits and reply form ------------------------------------------------------------------------------

test('reaching maxErrors is answered 421 and closes the session', async () => {
  const c = connect({ limits: { maxErrors: 3 } });
  c.greeting();
  assert.match(await c.say('FOO'), /^500 /);
  assert.match(await c.say('MAIL FROM:<sender@remote.example>'), /^503 /);
  assert.equal(await c.say('NOOP'), '250 2.0.0 OK'); // successes do not count
  const third = await commandReply(c.session, 'BAR');
  assert.equal(wire(third), '421 4.7.0 Too many errors, closing connection');
  assert.equal(third.close, true);
  // The session is over: nothing pipelined after the 421 is acted on.
  assert.equal(c.session.state, 'Closed');
  assert.equal(await c.say('EHLO client.example'), '421 4.7.0 Too many errors, closing connection');
  assert.equal(c.session.state, 'Closed');
});

test('every reply except the greeting, EHLO/HELO and 354 carries an enhanced status code (RFC 2034)', async () => {
  const c = connect({ limits: { maxRecipients: 1 } });
  const noStatus = new Set<Reply>();
  noStatus.add(c.replies[c.replies.push(c.session.greeting()) - 1]!);
  await c.say('RSET');
  await c.say('MAIL FROM:<a@b.example>');
  noStatus.add(c.replies[c.replies.push(await commandReply(c.session, 'HELO client.example')) - 1]!);
  noStatus.add(c.replies[c.replies.push(await commandReply(c.session, 'EHLO client.example')) - 1]!);
  for (const line of [
    'NOOP', 'HELP', 'VRFY alice', 'VRFY', 'EXPN list', 'FOO', 'EHLO', 'RCPT TO:<alice@example.com>', 'DATA',
    'MAIL FROM:<bad>', 'MAIL FROM:<a@b.example> SIZE=x', 'MAIL FROM:<a@b.example> SIZE=99999', 'MAIL FROM:<a@b.example> X=1',
    'MAIL FROM:<jösé@b.example>', 'MAIL FROM:<a@b.example>', 'RCPT TO:<bad>', 'RCPT TO:<nobody@example.com>',
    'RCPT TO:<x@remote.example>', 'DATA', 'RCPT TO:<alice@example.com>', 'RCPT TO:<bob@example.com>', 'RSET x', 'RSET',
  ]) {
    await c.say(line);
  }
  await c.say('MAIL FROM:<a@b.example>');
  await c.say('RCPT TO:<alice@example.com>');
  noStatus.add(c.replies[c.replies.push(await commandReply(c.session, 'DATA')) - 1]!);
  await c.send(MESSAGE);
  c.replies.push(c.session.lineTooLong(512));
  await c.say('QUIT');

  const codes = new Set(c.replies.map((r) => r.code));
  for (const code of [214, 220, 221, 250, 252, 354, 452, 500, 501, 502, 503, 550, 552, 553, 554, 555]) assert.ok(codes.has(code), `covers ${code}`);
  for (const r of c.replies) {
    if (noStatus.has(r)) {
      assert.equal(r.status, undefined, `${r.code} ${r.lines[0]}`);
      continue;
    }
    assert.match(r.status ?? '', /^[245]\.\d{1,3}\.\d{1,3}$/, `${r.code} ${r.lines[0]}`);
    assert.equal(r.status![0], String(r.code)[0], `class of ${r.code} ${r.status}`);
    // On the wire, every line of the reply carries it.
    for (const line of formatReply(r).split('\r\n').filter(Boolean)) assert.ok(line.slice(4).startsWith(`${r.status} `), line);
  }
});

// --- BDAT (RFC 3030 CHUNKING and BINARYMIME) ---------------------------------------------------------------

test('a message in BDAT chunks is answered per chunk and queued whole after LAST, CRLFs split across chunks', async () => {
  const c = await withRecipient();
  assert.equal(await c.chunk('Subject: chunks\r'), '250 2.0.0 16 octets received');
  assert.equal(c.session.state, 'Chunks');
  assert.equal(await c.chunk('\n\r\nfirst line\r\n.dot at line start\r\n'), '250 2.0.0 35 octets received');
  assert.equal(await c.chunk('last line\r\n', { last: true }), '250 2.0.0 OK: queued as Q1');
  assert.equal(c.session.state, 'Ready');
  const [entry] = c.hooks.enqueued;
  assert.match(entry!.message, /^Received: /);
  assert.ok(entry!.message.endsWith('Subject: chunks\r\n\r\nfirst line\r\n.dot at line start\r\nlast line\r\n'), 'no dot-stuffing is removed');
  assert.equal(entry!.envelope.binaryMime, false);
});

test('BDAT 0 LAST ends a message; a lone BDAT 0 LAST sends an empty one', async () => {
  const c = await withRecipient();
  await c.chunk('Subject: x\r\n\r\nbody\r\n');
  assert.equal(await c.chunk('', { last: true }), '250 2.0.0 OK: queued as Q1');
  assert.ok(c.hooks.enqueued[0]!.message.endsWith('Subject: x\r\n\r\nbody\r\n'));
  await c.say('MAIL FROM:<sender@remote.example>');
  await c.say('RCPT TO:<alice@example.com>');
  assert.equal(await c.chunk('', { last: true }), '250 2.0.0 OK: queued as Q2');
});

test('a chunk takes exactly its octets, even ones that look like commands; what follows is left for the command reader', async () => {
  const c = await withRecipient();
  assert.equal(await c.chunk('RSET\r\nQUIT\r\n', { last: true, after: 'QUIT\r\n' }), '250 2.0.0 OK: queued as Q1');
  assert.ok(c.hooks.enqueued[0]!.message.endsWith('\r\nRSET\r\nQUIT\r\n'));
});

test('a BDAT out of sequence has its chunk read and thrown away, then is answered 503 (or 554 after refused recipients)', async () => {
  const c = await greeted();
  assert.equal(await c.chunk('MAIL FROM:<x@y.example>\r\n', { last: true }), '503 5.5.1 Need MAIL and RCPT before BDAT');
  assert.equal(c.session.state, 'Ready');
  await c.say('MAIL FROM:<sender@remote.example>');
  assert.equal(await c.chunk('data', { last: true }), '503 5.5.1 Need RCPT before BDAT');
  await c.say('RCPT TO:<nobody@example.com>');
  assert.equal(await c.chunk('data', { last: true }), '554 5.5.1 No valid recipients');
  assert.equal(c.hooks.enqueued.length, 0);
});

test('MAIL, RCPT and DATA are refused between chunks; RSET drops the chunks received', async () => {
  const c = await withRecipient();
  await c.chunk('Subject: x\r\n');
  assert.match(await c.say('RCPT TO:<bob@example.com>'), /^503 5\.5\.1 /);
  assert.match(await c.say('MAIL FROM:<a@b.example>'), /^503 5\.5\.1 /);
  assert.equal(await c.say('DATA'), '503 5.5.1 DATA cannot follow BDAT in one transaction');
  assert.equal(await c.say('RSET'), '250 2.0.0 Reset OK');
  assert.equal(c.session.state, 'Ready');
  assert.equal(await c.chunk('more', { last: true }), '503 5.5.1 Need MAIL and RCPT before BDAT');
  assert.equal(c.hooks.enqueued.length, 0);
});

test('chunks over the size limit are answered 552 at the chunk that crosses it; later chunks are read and answered 503', async () => {
  const c = await withRecipient({ limits: { maxMessageBytes: 100 } });
  assert.equal(await c.chunk('a'.repeat(60)), '250 2.0.0 60 octets received');
  assert.equal(await c.chunk('b'.repeat(60)), '552 5.3.4 Message size exceeds fixed limit of 100 bytes');
  assert.equal(c.session.state, 'Ready');
  assert.equal(await c.chunk('c'.repeat(5000), { last: true }), '503 5.5.1 Need MAIL and RCPT before BDAT');
  assert.equal(c.hooks.enqueued.length, 0);
});

test('a BDAT without a valid chunk size is answered 501 and the connection closed (its octets cannot be found)', async () => {
  for (const line of ['BDAT', 'BDAT x', 'BDAT -1', 'BDAT 10 NOTLAST', 'BDAT 1e3', `BDAT ${'9'.repeat(16)}`]) {
    const c = await withRecipient();
    const reply = await commandReply(c.session, line);
    assert.equal(wire(reply), '501 5.5.4 Syntax: BDAT <chunk-size> [LAST]', line);
    assert.equal(reply.close, true);
    assert.equal(c.session.state, 'Closed');
  }
});

test('BODY=BINARYMIME: DATA is refused, BDAT carries any octet, and the envelope says so', async () => {
  const c = await greeted();
  assert.equal(await c.say('MAIL FROM:<sender@remote.example> BODY=BINARYMIME'), '250 2.1.0 Sender OK');
  await c.say('RCPT TO:<alice@example.com>');
  assert.equal(await c.say('DATA'), '503 5.5.1 BODY=BINARYMIME needs BDAT, not DATA');
  const binary = Buffer.concat([Buffer.from('Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'), Buffer.from([0, 10, 13, 255, 10, 46, 13])]);
  assert.equal(await c.chunk(binary, { last: true }), '250 2.0.0 OK: queued as Q1');
  const [entry] = c.hooks.enqueued;
  assert.equal(entry!.envelope.binaryMime, true);
  assert.equal(entry!.envelope.eightBitMime, true);
});

test('without BINARYMIME, a bare LF or CR in a chunk is refused (policy reject) or made CRLF (policy normalize)', async () => {
  const rejecting = await withRecipient();
  assert.equal(await rejecting.chunk('Subject: x\r\n\r\nbare\nlf\r\n', { last: true }), '550 5.5.2 Bare <CR> or <LF> in message data is not allowed; use <CR><LF>');
  const normalizing = await withRecipient({ limits: { bareLineEndings: 'normalize' } });
  await normalizing.chunk('Subject: x\r\n\r\nbare\nlf, lone cr\r');
  assert.equal(await normalizing.chunk('and end\r', { last: true }), '250 2.0.0 OK: queued as Q1');
  assert.ok(normalizing.hooks.enqueued[0]!.message.endsWith('Subject: x\r\n\r\nbare\r\nlf, lone cr\r\nand end\r\n'));
});
