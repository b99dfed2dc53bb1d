// Pop3Session against RFC 1939 (states, commands, replies) and RFC 2449 (CAPA, response codes).
// Each test is one rule, written as the client/server dialogue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pop3Session, type Maildrop, type Pop3AuthOutcome, type Pop3Response } from './session.js';

const MESSAGES = [
  { uidl: 'uid-one', text: 'Subject: one\r\n\r\nHello\r\n' },
  { uidl: 'uid-two', text: 'Subject: two\r\nFrom: b@example.com\r\n\r\n.leading dot\r\nline 2\r\nline 3\r\n' },
  { uidl: 'uid-three', text: 'Subject: three\r\n\r\ncaf\u00e9\r\n' },
];
const size = (text: string) => Buffer.byteLength(text, 'utf8');
const TOTAL = MESSAGES.reduce((sum, m) => sum + size(m.text), 0);

/** Accounts and maildrops as plain objects that record what the session did. */
function fakeHooks(options: { locked?: boolean; closeFails?: boolean } = {}) {
  const hooks = {
    authenticated: [] as [string, string][],
    opened: [] as string[],
    closed: [] as string[][],
    async authenticate(user: string, password: string): Promise<Pop3AuthOutcome> {
      hooks.authenticated.push([user, password]);
      return user === 'alice' && password === 'correct horse' ? { ok: true, mailbox: 'alice@example.com' } : { ok: false };
    },
    async openMaildrop(mailbox: string): Promise<Maildrop | 'locked'> {
      hooks.opened.push(mailbox);
      if (options.locked) return 'locked';
      return {
        messages: MESSAGES.map((m) => ({ uidl: m.uidl, size: size(m.text) })),
        async *read(uidl: string) {
          const text = Buffer.from(MESSAGES.find((m) => m.uidl === uidl)!.text, 'utf8');
          // Two chunks, so nothing relies on the message arriving in one piece.
          yield text.subarray(0, 7);
          yield text.subarray(7);
        },
        async close(deleteUidls: string[]) {
          hooks.closed.push(deleteUidls);
          if (options.closeFails) throw new Error('disk full');
        },
      };
    },
  };
  return hooks;
}

async function collect(body: Pop3Response['body']): Promise<string> {
  assert.ok(body, 'a multi-line response');
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/** The status line as the client sees it ("+OK text" / "-ERR text"). */
const status = (r: Pop3Response) => `${r.ok ? '+OK' : '-ERR'} ${r.text}`.trimEnd();

function connect(options: Parameters<typeof fakeHooks>[0] & { maxAuthFailures?: number } = {}) {
  const hooks = fakeHooks(options);
  const session = new Pop3Session('pop.example.net', hooks, { maxAuthFailures: options.maxAuthFailures ?? 3 });
  return {
    session,
    hooks,
    /** C: line  ->  S: the whole response. */
    send: (line: string) => session.command(line),
    /** C: line  ->  S: status line only. */
    say: async (line: string) => status(await session.command(line)),
  };
}

async function loggedIn(options: Parameters<typeof connect>[0] = {}) {
  const c = connect(options);
  assert.equal(await c.say('USER alice'), '+OK Send PASS');
  assert.equal(await c.say('PASS correct horse'), `+OK Logged in, 3 messages (${TOTAL} octets)`);
  return c;
}

// --- AUTHORIZATION (§4, §7) ------------------------------------------------------------------------------

test('the greeting is +OK', () => {
  const c = connect();
  assert.equal(status(c.session.greeting()), '+OK pop.example.net POP3 server ready');
  assert.equal(c.session.state, 'Authorization');
});

test('USER then PASS with good credentials enters the TRANSACTION state', async () => {
  const c = connect();
  assert.equal(await c.say('USER alice'), '+OK Send PASS');
  assert.equal(await c.say('PASS correct horse'), `+OK Logged in, 3 messages (${TOTAL} octets)`);
  assert.equal(c.session.state, 'Transaction');
  assert.deepEqual(c.hooks.authenticated, [['alice', 'correct horse']]);
  assert.deepEqual(c.hooks.opened, ['alice@example.com']);
});

test('the password keeps its spaces', async () => {
  const c = connect();
  await c.say('USER alice');
  assert.match(await c.say('PASS  correct horse'), /^-ERR /);
  assert.deepEqual(c.hooks.authenticated, [['alice', ' correct horse']]);
});

test('USER without a name is answered -ERR', async () => {
  const c = connect();
  assert.equal(await c.say('USER'), '-ERR Syntax: USER name');
  assert.equal(await c.say('USER '), '-ERR Syntax: USER name');
});

test('PASS without USER is answered -ERR', async () => {
  const c = connect();
  assert.equal(await c.say('PASS correct horse'), '-ERR Send USER first');
  assert.deepEqual(c.hooks.authenticated, []);
});

test('PASS needs a fresh USER after a failure', async () => {
  const c = connect();
  await c.say('USER alice');
  assert.match(await c.say('PASS wrong'), /^-ERR /);
  assert.equal(await c.say('PASS correct horse'), '-ERR Send USER first');
});

test('a wrong password and an unknown user get the same -ERR', async () => {
  const c = connect();
  await c.say('USER alice');
  const wrongPassword = await c.send('PASS wrong');
  await c.say('USER mallory');
  const unknownUser = await c.send('PASS correct horse');
  assert.deepEqual(wrongPassword, unknownUser);
  assert.equal(status(wrongPassword), '-ERR [AUTH] Invalid user name or password');
  assert.equal(c.session.state, 'Authorization');
});

test('reaching maxAuthFailures closes the connection', async () => {
  const c = connect({ maxAuthFailures: 2 });
  await c.say('USER alice');
  assert.notEqual((await c.send('PASS wrong')).close, true);
  await c.say('USER alice');
  const second = await c.send('PASS wrong again');
  assert.equal(status(second), '-ERR [AUTH] Invalid user name or password');
  assert.equal(second.close, true);
});

test('a maildrop locked by another session is answered -ERR [IN-USE]', async () => {
  const c = connect({ locked: true });
  await c.say('USER alice');
  assert.equal(await c.say('PASS correct horse'), '-ERR [IN-USE] Maildrop is locked by another session');
  assert.equal(c.session.state, 'Authorization');
});

test('APOP is answered -ERR', async () => {
  const c = connect();
  assert.equal(await c.say('APOP alice c4c9334bac560ecc979e58001b3e22fb'), '-ERR APOP not supported');
});

test('QUIT in the AUTHORIZATION state is +OK and closes without touching any maildrop', async () => {
  const c = connect();
  const reply = await c.send('QUIT');
  assert.equal(status(reply), '+OK pop.example.net POP3 server signing off');
  assert.equal(reply.close, true);
  assert.equal(c.session.state, 'Closed');
  assert.deepEqual(c.hooks.opened, []);
});

test('transaction commands before login are answered -ERR', async () => {
  const c = connect();
  for (const line of ['STAT', 'LIST', 'LIST 1', 'UIDL', 'RETR 1', 'TOP 1 0', 'DELE 1', 'NOOP', 'RSET']) {
    assert.equal(await c.say(line), '-ERR Not authenticated yet', line);
  }
  assert.equal(c.session.state, 'Authorization');
});

// --- TRANSACTION (§5) -----------------------------------------------------------------------------------

test('USER and PASS after login are answered -ERR', async () => {
  const c = await loggedIn();
  assert.equal(await c.say('USER alice'), '-ERR USER not allowed now');
  assert.equal(await c.say('PASS correct horse'), '-ERR PASS not allowed now');
  assert.equal(c.session.state, 'Transaction');
});

test('STAT gives the message count and total size', async () => {
  const c = await loggedIn();
  assert.equal(await c.say('STAT'), `+OK 3 ${TOTAL}`);
  assert.equal(await c.say('STAT 1'), '-ERR STAT takes no arguments');
});

test('LIST gives every message with its exact size', async () => {
  const c = await loggedIn();
  const reply = await c.send('LIST');
  assert.equal(status(reply), `+OK 3 messages (${TOTAL} octets)`);
  assert.equal(await collect(reply.body), `1 ${size(MESSAGES[0]!.text)}\r\n2 ${size(MESSAGES[1]!.text)}\r\n3 ${size(MESSAGES[2]!.text)}\r\n`);
});

test('LIST n gives one message on the status line', async () => {
  const c = await loggedIn();
  const reply = await c.send('LIST 3');
  assert.equal(status(reply), `+OK 3 ${size(MESSAGES[2]!.text)}`);
  assert.equal(reply.body, undefined);
  assert.equal(await c.say('LIST 1 2'), '-ERR Too many arguments');
});

test('UIDL gives every message with its unique id', async () => {
  const c = await loggedIn();
  const reply = await c.send('UIDL');
  assert.equal(reply.ok, true);
  assert.equal(await collect(reply.body), '1 uid-one\r\n2 uid-two\r\n3 uid-three\r\n');
});

test('UIDL n gives one unique id on the status line', async () => {
  const c = await loggedIn();
  assert.equal(await c.say('UIDL 2'), '+OK 2 uid-two');
});

test('RETR n returns the raw message with its size', async () => {
  const c = await loggedIn();
  const reply = await c.send('RETR 2');
  assert.equal(status(reply), `+OK ${size(MESSAGES[1]!.text)} octets`);
  // The body is unstuffed: the server adds byte-stuffing and the terminator when it sends it.
  assert.equal(await collect(reply.body), MESSAGES[1]!.text);
  assert.equal(await c.say('RETR'), '-ERR Syntax: RETR msg');
});

test('TOP n m returns the headers, the blank line and m body lines', async () => {
  const c = await loggedIn();
  const reply = await c.send('TOP 2 1');
  assert.equal(status(reply), '+OK Top of message follows');
  assert.equal(await collect(reply.body), 'Subject: two\r\nFrom: b@example.com\r\n\r\n.leading dot\r\n');
  assert.equal(await collect((await c.send('TOP 2 0')).body), 'Subject: two\r\nFrom: b@example.com\r\n\r\n');
  assert.equal(await collect((await c.send('TOP 2 99')).body), MESSAGES[1]!.text);
});

test('TOP without a valid line count is answered -ERR', async () => {
  const c = await loggedIn();
  assert.equal(await c.say('TOP 1'), '-ERR Syntax: TOP msg lines');
  assert.equal(await c.say('TOP 1 x'), '-ERR Syntax: TOP msg lines');
  assert.equal(await c.say('TOP 1 -1'), '-ERR Syntax: TOP msg lines');
  assert.equal(await c.say('TOP 9 1'), '-ERR No such message');
});

test('DELE marks a message deleted; LIST, UIDL and STAT no longer show it', async () => {
  const c = await loggedIn();
  assert.equal(await c.say('DELE 2'), '+OK Message 2 deleted');
  const remaining = TOTAL - size(MESSAGES[1]!.text);
  assert.equal(await c.say('STAT'), `+OK 2 ${remaining}`);
  const list = await c.send('LIST');
  assert.equal(status(list), `+OK 2 messages (${remaining} octets)`);
  // Message numbers do not change (§5).
  assert.equal(await collect(list.body), `1 ${size(MESSAGES[0]!.text)}\r\n3 ${size(MESSAGES[2]!.text)}\r\n`);
  assert.equal(await collect((await c.send('UIDL')).body), '1 uid-one\r\n3 uid-three\r\n');
  assert.equal(await c.say('LIST 2'), '-ERR Message 2 already deleted');
  assert.equal(await c.say('UIDL 2'), '-ERR Message 2 already deleted');
});

test('RETR or TOP of a deleted message is answered -ERR', async () => {
  const c = await loggedIn();
  await c.say('DELE 1');
  assert.equal(await c.say('RETR 1'), '-ERR Message 1 already deleted');
  assert.equal(await c.say('TOP 1 0'), '-ERR Message 1 already deleted');
});

test('DELE of an already deleted message is answered -ERR', async () => {
  const c = await loggedIn();
  assert.equal(await c.say('DELE 1'), '+OK Message 1 deleted');
  assert.equal(await c.say('DELE 1'), '-ERR Message 1 already deleted');
  assert.equal(await c.say('DELE'), '-ERR Syntax: DELE msg');
});

test('RSET unmarks every deleted message', async () => {
  const c = await loggedIn();
  await c.say('DELE 1');
  await c.say('DELE 3');
  assert.equal(await c.say('RSET'), `+OK Maildrop has 3 messages (${TOTAL} octets)`);
  assert.equal(await c.say('STAT'), `+OK 3 ${TOTAL}`);
  assert.equal(await c.say('RETR 1'), `+OK ${size(MESSAGES[0]!.text)} octets`);
  assert.equal(await c.say('RSET x'), '-ERR RSET takes no arguments');
});

test('NOOP is +OK and changes nothing', async () => {
  const c = await loggedIn();
  assert.equal(await c.say('NOOP'), '+OK');
  assert.equal(await c.say('NOOP x'), '-ERR NOOP takes no arguments');
  assert.equal(c.session.state, 'Transaction');
});

for (const bad of ['0', '4', '99', 'x', '-1', '1.0', '1234567890']) {
  test(`message number "${bad}" is answered -ERR in RETR, LIST, UIDL, TOP and DELE`, async () => {
    const c = await loggedIn();
    const expected = /^\d+$/.test(bad) && bad.length <= 9 ? '-ERR No such message' : '-ERR Invalid message number';
    assert.equal(await c.say(`RETR ${bad}`), expected);
    assert.equal(await c.say(`LIST ${bad}`), expected);
    assert.equal(await c.say(`UIDL ${bad}`), expected);
    assert.equal(await c.say(`TOP ${bad} 1`), expected);
    assert.equal(await c.say(`DELE ${bad}`), expected);
    assert.equal(await c.say('STAT'), `+OK 3 ${TOTAL}`);
  });
}

test('an unknown command is answered -ERR and the session goes on', async () => {
  const c = await loggedIn();
  assert.equal(await c.say('XYZZY'), '-ERR Unknown command');
  assert.equal(await c.say(''), '-ERR Empty command');
  assert.equal(c.session.state, 'Transaction');
  assert.equal(await c.say('STAT'), `+OK 3 ${TOTAL}`);
});

test('an unknown command before login is answered -ERR and the session goes on', async () => {
  const c = connect();
  assert.equal(await c.say('XYZZY'), '-ERR Unknown command');
  assert.equal(await c.say('USER alice'), '+OK Send PASS');
});

test('verbs are case-insensitive', async () => {
  const c = connect();
  assert.equal(await c.say('user alice'), '+OK Send PASS');
  assert.match(await c.say('pass correct horse'), /^\+OK /);
  assert.equal(await c.say('stat'), `+OK 3 ${TOTAL}`);
});

// --- UPDATE (§6) ----------------------------------------------------------------------------------------

test('QUIT in the TRANSACTION state commits the deletions through close()', async () => {
  const c = await loggedIn();
  await c.say('DELE 3');
  await c.say('DELE 1');
  const reply = await c.send('QUIT');
  assert.equal(status(reply), '+OK pop.example.net POP3 server signing off');
  assert.equal(reply.close, true);
  assert.equal(c.session.state, 'Closed');
  assert.deepEqual(c.hooks.closed, [['uid-three', 'uid-one']]);
});

test('QUIT with no deletions releases the maildrop and deletes nothing', async () => {
  const c = await loggedIn();
  await c.say('QUIT');
  assert.deepEqual(c.hooks.closed, [[]]);
});

test('QUIT after RSET deletes nothing', async () => {
  const c = await loggedIn();
  await c.say('DELE 1');
  await c.say('RSET');
  await c.say('QUIT');
  assert.deepEqual(c.hooks.closed, [[]]);
});

test('QUIT whose deletions fail is answered -ERR and still closes', async () => {
  const c = await loggedIn({ closeFails: true });
  await c.say('DELE 1');
  const reply = await c.send('QUIT');
  assert.equal(status(reply), '-ERR Some deleted messages not removed');
  assert.equal(reply.close, true);
  assert.equal(c.session.state, 'Closed');
});

test('a dropped connection (abandon) releases the maildrop and deletes nothing', async () => {
  const c = await loggedIn();
  await c.say('DELE 1');
  await c.say('DELE 2');
  await c.session.abandon();
  assert.deepEqual(c.hooks.closed, [[]]);
  assert.equal(c.session.state, 'Closed');
});

test('abandon before login touches no maildrop', async () => {
  const c = connect();
  await c.session.abandon();
  assert.deepEqual(c.hooks.closed, []);
});

test('every command after QUIT is answered -ERR', async () => {
  const c = await loggedIn();
  await c.say('QUIT');
  for (const line of ['STAT', 'USER alice', 'QUIT', 'CAPA']) assert.match(await c.say(line), /^-ERR /, line);
  assert.deepEqual(c.hooks.closed, [[]]);
});

// --- CAPA (RFC 2449) ------------------------------------------------------------------------------------

test('CAPA lists TOP, UIDL, USER, RESP-CODES and PIPELINING, before and after login', async () => {
  const c = connect();
  for (const when of ['before login', 'after login']) {
    const reply = await c.send('CAPA');
    assert.equal(status(reply), '+OK Capability list follows', when);
    const capabilities = (await collect(reply.body)).split('\r\n');
    assert.equal(capabilities.pop(), '', `${when}: every line ends with CRLF`);
    for (const name of ['TOP', 'UIDL', 'USER', 'RESP-CODES', 'PIPELINING']) assert.ok(capabilities.includes(name), `${when}: ${name}`);
    await c.say('USER alice');
    await c.say('PASS correct horse');
  }
});

// RFC 2595 (STLS) and RFC 5034 (AUTH PLAIN), with plain-text login refused before TLS.

function secureSession(context: { secure: boolean; tlsAvailable?: boolean; allowPlaintextAuth?: boolean }) {
  const hooks = fakeHooks();
  const session = new Pop3Session(
    { serverName: 'pop.example.net', clientAddress: '192.0.2.1', tlsAvailable: context.tlsAvailable ?? true, secure: context.secure, allowPlaintextAuth: context.allowPlaintextAuth ?? false },
    hooks,
    { maxAuthFailures: 3 },
  );
  return { session, hooks };
}

test('before TLS, CAPA offers STLS but neither USER nor SASL, and USER is refused', async () => {
  const { session, hooks } = secureSession({ secure: false });
  const capa = await collect((await session.command('CAPA')).body);
  assert.match(capa, /^STLS\r$/m);
  assert.doesNotMatch(capa, /^USER\r$/m);
  assert.doesNotMatch(capa, /^SASL/m);
  assert.equal(status(await session.command('USER alice')), '-ERR [AUTH] Plain-text login requires TLS (use STLS first)');
  assert.match(status(await session.command('AUTH PLAIN AGFsaWNlAGNvcnJlY3QgaG9yc2U=')), /^-ERR \[AUTH\] Authentication requires TLS/);
  assert.deepEqual(hooks.authenticated, []);
});

test('STLS answers +OK and asks for the handshake; afterwards USER and SASL PLAIN are offered, STLS no longer', async () => {
  const { session } = secureSession({ secure: false });
  const response = await session.command('STLS');
  assert.equal(status(response), '+OK Begin TLS negotiation');
  assert.equal(response.startTls, true);
  session.tlsStarted();
  const capa = await collect((await session.command('CAPA')).body);
  assert.doesNotMatch(capa, /^STLS\r$/m);
  assert.match(capa, /^USER\r$/m);
  assert.match(capa, /^SASL PLAIN\r$/m);
  assert.equal(status(await session.command('STLS')), '-ERR TLS already active');
});

test('STLS without a certificate is refused, and in TRANSACTION it is not allowed', async () => {
  const { session } = secureSession({ secure: false, tlsAvailable: false, allowPlaintextAuth: true });
  assert.equal(status(await session.command('STLS')), '-ERR STLS not available');
  await session.command('USER alice');
  await session.command('PASS correct horse');
  assert.match(status(await session.command('STLS')), /^-ERR/);
});

test('AUTH PLAIN with an initial response logs in (RFC 5034)', async () => {
  const { session } = secureSession({ secure: true });
  const response = await session.command(`AUTH PLAIN ${Buffer.from('\0alice\0correct horse').toString('base64')}`);
  assert.match(status(response), /^\+OK Logged in/);
  assert.equal(session.state, 'Transaction');
});

test('AUTH PLAIN without an initial response answers "+ " and takes the next line', async () => {
  const { session } = secureSession({ secure: true });
  const go = await session.command('AUTH PLAIN');
  assert.equal(go.continuation, true);
  assert.match(status(await session.command(Buffer.from('alice\0alice\0correct horse').toString('base64'))), /^\+OK Logged in/);
});

test('AUTH PLAIN: bad credentials, bad base64, another authorization identity and "*" all fail', async () => {
  const { session } = secureSession({ secure: true });
  assert.equal(status(await session.command(`AUTH PLAIN ${Buffer.from('\0alice\0wrong').toString('base64')}`)), '-ERR [AUTH] Invalid user name or password');
  assert.match(status(await session.command('AUTH PLAIN !!!')), /^-ERR Cannot decode/);
  assert.equal(status(await session.command(`AUTH PLAIN ${Buffer.from('bob\0alice\0correct horse').toString('base64')}`)), '-ERR [AUTH] Invalid user name or password');
  await session.command('AUTH PLAIN');
  assert.equal(status(await session.command('*')), '-ERR Authentication cancelled');
  assert.match(status(await session.command('AUTH CRAM-MD5')), /^-ERR Unsupported SASL mechanism/);
});

test('a locked account gets [SYS/TEMP], when to retry, and the connection closes', async () => {
  const hooks = { ...fakeHooks(), authenticate: async () => ({ ok: false as const, locked: true, retryAfterMs: 41_500 }) };
  const session = new Pop3Session('pop.example.net', hooks, { maxAuthFailures: 3 });
  await session.command('USER alice');
  const response = await session.command('PASS correct horse');
  assert.equal(status(response), '-ERR [SYS/TEMP] Too many failed logins; try again in 42 seconds');
  assert.equal(response.close, true);
});
