// Property tests (fast-check) for the POP3 protocol core on hostile input: whatever lines arrive, in any
// order, the session never throws, answers +OK or -ERR on one clean line, stays in its states, deletes
// exactly what was DELEted at QUIT, and releases the maildrop when the connection is abandoned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dotStuff, topOfMessage } from './multiline.js';
import { Pop3Session, type Maildrop, type Pop3Response, type Pop3State } from './session.js';

const RUNS = { numRuns: 300 };

const STATES: ReadonlySet<Pop3State> = new Set<Pop3State>(['Authorization', 'Transaction', 'Update', 'Closed']);

/** Strings a hostile client can produce: any code point, lone surrogates, NUL, controls, decoded bytes. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('utf8')),
  fc.string({ unit: fc.constantFrom('\0', '\r', ' ', '1', '0', '-', '9', 'a', '\u00e9', '\u{1F600}', '\uD800', '='), maxLength: 40 }),
);

const VERBS = ['USER', 'PASS', 'APOP', 'AUTH', 'STLS', 'CAPA', 'QUIT', 'STAT', 'LIST', 'UIDL', 'RETR', 'TOP', 'DELE', 'NOOP', 'RSET', 'XTND', ''];
const number = fc.oneof(fc.constantFrom('1', '2', '3', '0', '4', '-1', '01', '1.0', '999999999', '9999999999', '1e3', ' 1', ''), fc.nat().map(String), anyText);
const PLAIN_ALICE = Buffer.from('\0alice\0secret').toString('base64');

/** A command line: mostly real verbs with hostile arguments, the right login often enough to get in. */
const commandLine = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.mixedCase(fc.constantFrom(...VERBS)), fc.array(fc.oneof(number, anyText), { maxLength: 3 })).map(([v, args]) => [v, ...args].join(' ')) },
  { weight: 3, arbitrary: fc.constantFrom('USER alice', 'PASS secret', 'PASS wrong', `AUTH PLAIN ${PLAIN_ALICE}`, 'AUTH PLAIN', PLAIN_ALICE, '*', 'STAT', 'LIST', 'UIDL', 'RSET', 'QUIT') },
  { weight: 3, arbitrary: fc.tuple(fc.mixedCase(fc.constantFrom('RETR', 'TOP', 'DELE', 'LIST', 'UIDL')), number, fc.option(number)).map(([v, a, b]) => (b === null ? `${v} ${a}` : `${v} ${a} ${b}`)) },
  { weight: 2, arbitrary: anyText },
);

const messageBytes = fc
  .array(fc.oneof(fc.constantFrom('\r\n', '.', '..', '\r\n.\r\n', 'Subject: x\r\n', '\r\n\r\n', '\n', '\r', 'body').map((s) => Buffer.from(s)), fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b))), {
    maxLength: 20,
  })
  .map((parts) => Buffer.concat(parts));

function fakeHooks(contents: Buffer[]) {
  const hooks = {
    opened: 0,
    closed: [] as string[][],
    async authenticate(user: string, password: string) {
      return user === 'alice' && password === 'secret' ? { ok: true as const, mailbox: 'alice@example.com' } : { ok: false as const };
    },
    async openMaildrop(): Promise<Maildrop | 'locked'> {
      hooks.opened++;
      return {
        messages: contents.map((c, i) => ({ uidl: `uid-${i + 1}`, size: c.length })),
        async *read(uidl: string) {
          const content = contents[Number(uidl.slice(4)) - 1]!;
          yield content.subarray(0, 3);
          yield content.subarray(3);
        },
        async close(deleteUidls: string[]) {
          hooks.closed.push(deleteUidls);
        },
      };
    },
  };
  return hooks;
}

async function drain(body: Pop3Response['body']): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of dotStuff(body!)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Read through a call, so that the compiler does not keep the narrowing from before an await. */
const stateOf = (session: Pop3Session): Pop3State => session.state;

/** The status line as server.ts writes it: "+OK text", "-ERR text", or "+ " for a SASL continuation. */
function assertValidResponse(r: Pop3Response, context: string): void {
  assert.equal(typeof r.ok, 'boolean', context);
  const line = r.continuation ? `+ ${r.text}` : `${r.ok ? '+OK' : '-ERR'}${r.text ? ` ${r.text}` : ''}`;
  if (!r.continuation) assert.match(line, /^(?:\+OK|-ERR)(?: |$)/, context);
  assert.doesNotMatch(line, /[\r\n\0]/, `${context}: ${JSON.stringify(line)}`);
  // RFC 2449 §4: a response line is at most 512 octets with its CRLF.
  assert.ok(Buffer.byteLength(line) + 2 <= 512, `${context}: ${Buffer.byteLength(line) + 2} octets`);
  if (r.body) assert.ok(r.ok, `${context}: a multi-line response is positive`);
}

test('a POP3 session fed any lines in any order never throws, answers +OK or -ERR, and stays in its states', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(messageBytes, { maxLength: 4 }),
      // Half of the runs start logged in, so that the TRANSACTION state gets its share of noise.
      fc.tuple(fc.constantFrom<string[]>([], ['USER alice', 'PASS secret']), fc.array(commandLine, { minLength: 1, maxLength: 40 })).map(([start, rest]) => [...start, ...rest]),
      fc.integer({ min: 1, max: 5 }),
      async (contents, lines, maxAuthFailures) => {
      const hooks = fakeHooks(contents);
      const session = new Pop3Session('pop.example.net', hooks, { maxAuthFailures });
      assertValidResponse(session.greeting(), 'greeting');
      /** The model: message numbers DELEted and not RSET. */
      const deleted = new Set<number>();
      let quitInTransaction = false;
      for (const line of lines) {
        // The line reader never passes a line with its LF; a CR may remain inside.
        const commandText = line.replace(/\n/g, '');
        const before = stateOf(session);
        const r = await session.command(commandText);
        const context = `${before} ${JSON.stringify(commandText.slice(0, 100))}`;
        assertValidResponse(r, context);
        assert.ok(STATES.has(session.state), session.state);
        if (r.body) await drain(r.body);
        const verb = commandText.split(' ')[0]!.toUpperCase();
        if (r.ok && before === 'Transaction' && verb === 'DELE') deleted.add(Number(commandText.split(' ').filter((a) => a !== '')[1]));
        if (r.ok && before === 'Transaction' && verb === 'RSET') deleted.clear();
        if (before === 'Authorization' && stateOf(session) === 'Transaction') assert.equal(hooks.opened, 1, 'the maildrop is opened once, at login');
        if (r.close) {
          quitInTransaction = before === 'Transaction' && verb === 'QUIT';
          break;
        }
      }
      if (quitInTransaction) {
        assert.deepEqual(hooks.closed, [[...deleted].sort((a, b) => a - b).map((n) => `uid-${n}`)], 'QUIT deletes exactly what was DELEted and not RSET');
      } else {
        // The connection goes away without QUIT: nothing is deleted and the lock is released.
        await session.abandon();
        assert.deepEqual(hooks.closed, hooks.opened ? [[]] : []);
      }
    },
    ),
    RUNS,
  );
});

test('RETR gives back every message byte for byte, however hostile its content', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(messageBytes, { minLength: 1, maxLength: 3 }), async (contents) => {
      const session = new Pop3Session('pop.example.net', fakeHooks(contents), { maxAuthFailures: 3 });
      await session.command('USER alice');
      assert.equal((await session.command('PASS secret')).ok, true);
      for (let n = 1; n <= contents.length; n++) {
        const r = await session.command(`RETR ${n}`);
        assert.equal(r.text, `${contents[n - 1]!.length} octets`);
        const wire = (await drain(r.body)).toString('latin1');
        // The client stops at the first <CRLF>.<CRLF> after the status line: it must be the real end.
        const original = contents[n - 1]!.toString('latin1');
        const end = `\r\n${wire}`.indexOf('\r\n.\r\n');
        if (/^(?:[^\r\n]|\r\n)*$/.test(original)) assert.equal(end, wire.length - 3, 'the terminator is at the end');
        else assert.ok(end === -1 || end === wire.length - 3, 'never an early terminator, even with bare CR or LF');
        let stuffed = wire.slice(0, -3);
        if (original.length > 0 && !original.endsWith('\n')) {
          assert.ok(stuffed.endsWith('\r\n'), 'a CRLF is added before the terminator');
          stuffed = stuffed.slice(0, -2);
        }
        assert.equal(stuffed.replace(/(^|\n)\./g, '$1'), original, 'unstuffed, the message is the original');
      }
    }),
    RUNS,
  );
});

test('TOP gives a prefix of the message: the headers, the blank line, at most n lines of body', async () => {
  await fc.assert(
    fc.asyncProperty(messageBytes, fc.uniqueArray(fc.nat(), { maxLength: 5 }), fc.integer({ min: 0, max: 5 }), async (content, rawCuts, bodyLines) => {
      const points = [0, ...rawCuts.map((c) => c % (content.length + 1)).sort((a, b) => a - b), content.length];
      const chunks = points.slice(1).map((end, i) => content.subarray(points[i], end));
      async function* source() {
        yield* chunks;
      }
      const out: Buffer[] = [];
      for await (const piece of topOfMessage(source(), bodyLines)) out.push(Buffer.from(piece));
      const top = Buffer.concat(out);
      assert.ok(content.subarray(0, top.length).equals(top), 'a prefix');
      const text = top.toString('latin1');
      // The header block ends at the first empty line (a CR alone does not make a line non-empty).
      const headerEnd = /(?:^|\n)\r*\n/.exec(text);
      if (headerEnd) {
        const body = text.slice(headerEnd.index + headerEnd[0].length);
        assert.ok((body.match(/\n/g) ?? []).length <= bodyLines, `at most ${bodyLines} body lines in ${JSON.stringify(body)}`);
      } else {
        assert.equal(top.length, content.length, 'without a blank line, the whole message is headers');
      }
    }),
    RUNS,
  );
});

// --- Regression found by the hostile-client suite -----------------------------------------------------

test('a session abandoned while its login is in flight gives back the maildrop it was being granted', async () => {
  const hooks = fakeHooks([Buffer.from('Subject: x\r\n\r\nx\r\n')]);
  let grant: () => void = () => undefined;
  const granted = new Promise<void>((resolve) => (grant = resolve));
  const openMaildrop = hooks.openMaildrop.bind(hooks);
  hooks.openMaildrop = async () => {
    await granted; // the lock is being taken when the connection goes
    return openMaildrop();
  };
  const session = new Pop3Session('pop.example.net', hooks, { maxAuthFailures: 3 });
  await session.command('USER alice');
  const login = session.command('PASS secret');
  await session.abandon();
  grant();
  const r = await login;
  assert.equal(r.ok, false);
  assert.equal(r.close, true);
  assert.deepEqual(hooks.closed, [[]], 'the maildrop was closed, nothing deleted');
  assert.equal(session.state, 'Closed');
});
