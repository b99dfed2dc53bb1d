// Property tests (fast-check) for the SMTP protocol core on hostile input: the command grammar never
// throws, the session stays a valid state machine whatever lines arrive, and the DATA reader ends only at
// <CRLF>.<CRLF> however the bytes are chunked, undoing exactly the dot-stuffing a sender adds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dotStuff } from '@mail/wire';
import { DataReader, type BareLineEndingPolicy, type DataResult } from './data-reader.js';
import { parseCommandLine, parsePathArgument, validateMailbox } from './grammar.js';
import { formatReply, type Reply } from './replies.js';
import { SmtpSession, type MessageSink, type RecipientVerdict, type SessionState } from './session.js';
import { commandReply } from './session.test-support.js';

const RUNS = { numRuns: 300 };

// --- Arbitraries -------------------------------------------------------------------------------------

/** Strings a hostile client can produce: any code point, lone surrogates, NUL, controls, decoded bytes. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('utf8')),
  fc.string({ unit: fc.constantFrom('\0', '\r', '\n', '<', '>', '"', '\\', '@', ':', ' ', '=', '.', 'a', 'é', '\u{1F600}', '\uD800'), maxLength: 80 }),
);

const localPart = fc.oneof(
  fc.constantFrom('alice', 'bob', 'nobody', 'postmaster', 'jösé', '"quoted local"', '"a\\"b"', 'a.b', '.a', 'a..b', ''),
  fc.string({ unit: 'grapheme-ascii', maxLength: 70 }),
);
const domain = fc.oneof(
  fc.constantFrom('example.com', 'remote.example', 'exämple.com', '[192.0.2.1]', '[IPv6:::1]', '-bad.example', 'a..b', ''),
  fc.domain(),
  fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
);
const parameter = fc.oneof(
  fc.constantFrom('SIZE=100', 'SIZE=99999999999999999999999', 'SIZE=', 'SIZE', 'BODY=8BITMIME', 'BODY=7BIT', 'BODY=BINARYMIME', 'SMTPUTF8', 'SMTPUTF8=yes', 'RET=FULL', '=x', 'X-\u00e9=1'),
  anyText,
);
const path = fc.oneof(
  fc.tuple(localPart, domain).map(([l, d]) => `<${l}@${d}>`),
  fc.constantFrom('<>', '<postmaster>', '<@relay.example:alice@example.com>', '<@relay', '<alice@example.com', 'alice@example.com', '< alice@example.com >'),
  anyText,
);
const pathArgument = fc
  .tuple(fc.constantFrom('FROM:', 'from:', 'TO:', 'To:', 'FROM: ', 'TO :', ''), path, fc.array(parameter, { maxLength: 4 }))
  .map(([keyword, p, params]) => [keyword + p, ...params].join(' '));

/** What a client may offer as its name: printable ASCII without spaces, up to a whole command line. */
const printableChar = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
const printableToken = fc.oneof(
  fc.string({ unit: printableChar, minLength: 1, maxLength: 40 }),
  // Long names (built by repetition, so that a failure shrinks quickly), ASCII or not.
  fc
    .tuple(fc.string({ unit: fc.oneof(printableChar, fc.constantFrom('\u00e9', '\u{1F600}', '-')), minLength: 1, maxLength: 8 }), fc.integer({ min: 20, max: 300 }))
    .map(([piece, times]) => piece.repeat(times)),
);

const VERBS = ['EHLO', 'HELO', 'MAIL', 'RCPT', 'DATA', 'RSET', 'NOOP', 'QUIT', 'VRFY', 'EXPN', 'HELP', 'STARTTLS', 'AUTH', 'BDAT', 'TURN', 'BOGUS', ''];

/** A command line: mostly well-formed verbs with hostile arguments, sometimes pure noise. */
const commandLine = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.mixedCase(fc.constantFrom(...VERBS)), fc.oneof(pathArgument, anyText, domain)).map(([v, a]) => `${v} ${a}`) },
  { weight: 2, arbitrary: fc.mixedCase(fc.constantFrom(...VERBS)) },
  { weight: 2, arbitrary: fc.constantFrom('EHLO client.example', 'MAIL FROM:<sender@remote.example>', 'RCPT TO:<alice@example.com>', 'DATA', 'AUTH PLAIN', 'AUTH LOGIN', '*', 'AGFsaWNlAHNlY3JldA==') },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('MAIL FROM:<sender@remote.example>', 'RCPT TO:<alice@example.com>', 'MAIL FROM:<>'), fc.array(parameter, { maxLength: 3 }))
      .map(([command, params]) => [command, ...params].join(' ')),
  },
  { weight: 1, arbitrary: fc.tuple(fc.mixedCase(fc.constantFrom('EHLO', 'HELO')), fc.oneof(fc.domain(), printableToken)).map(([v, name]) => `${v} ${name}`) },
  { weight: 2, arbitrary: anyText },
  { weight: 2, arbitrary: fc.tuple(fc.nat({ max: 3000 }), fc.constantFrom('', ' LAST', ' last', '  LAST', ' LAST x')).map(([size, last]) => `BDAT ${size}${last}`) },
);

/** Bytes for DATA, biased towards the characters that matter: CR, LF and dots at line starts. */
const dataBytes = fc
  .array(
    fc.oneof(
      fc.constantFrom('\r\n', '\r', '\n', '.', '..', '\r\n.\r\n', '\r\n..\r\n', '.\r\n', '\n.\n', '\r.\r', 'a', 'Subject: x', '\u00e9', '\0', 'Received: x\r\n').map((s) => Buffer.from(s, 'utf8')),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
    ),
    { maxLength: 60 },
  )
  .map((parts) => Buffer.concat(parts));

/** Cut points that split a buffer into chunks (empty chunks included). */
const withSplits = (bytes: fc.Arbitrary<Buffer>) =>
  bytes.chain((b) => fc.tuple(fc.constant(b), fc.uniqueArray(fc.integer({ min: 0, max: b.length }), { maxLength: 12 })));

function chunksOf(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [0, ...[...cuts].sort((x, y) => x - y), bytes.length];
  return points.slice(1).map((end, i) => bytes.subarray(points[i], end));
}

// --- Helpers -----------------------------------------------------------------------------------------

/** Feeds chunks in order; the number of input bytes consumed when the terminator was seen, else -1. */
function readData(chunks: Buffer[], maxBytes: number, policy: BareLineEndingPolicy): { consumed: number; result: DataResult } {
  const reader = new DataReader(maxBytes, policy);
  let offset = 0;
  for (const chunk of chunks) {
    const used = reader.push(chunk);
    if (used >= 0) return { consumed: offset + used, result: reader.result() };
    offset += chunk.length;
  }
  return { consumed: -1, result: reader.result() };
}

/** Where the data ends by the rule alone: right after the first <CRLF>.<CRLF>, counting the CRLF of "DATA". */
function terminatorEnd(bytes: Buffer): number {
  const at = Buffer.concat([Buffer.from('\r\n'), bytes]).indexOf('\r\n.\r\n');
  return at < 0 ? -1 : at + 5 - 2;
}

/** The states of session.ts ('Auth' is the SASL exchange). */
const STATES: ReadonlySet<string> = new Set(['Initial', 'Ready', 'Mail', 'Recipients', 'Data', 'Chunks', 'Auth', 'Closed']);

/**
 * A reply as RFC 5321 §4.2 wants it on the wire: 3 digits 2xx-5xx, "-" on all lines but the last, no CR or
 * LF inside a line, at most 512 octets per line (§4.5.3.1.5); with an enhanced status code of the same class
 * (RFC 3463) when `statusRequired`.
 */
function assertValidReply(r: Reply, statusRequired: boolean, context: string): void {
  assert.ok(Number.isInteger(r.code) && r.code >= 200 && r.code <= 599, `${context}: code ${r.code}`);
  const wireForm = formatReply(r);
  assert.ok(wireForm.endsWith('\r\n'), context);
  const lines = wireForm.slice(0, -2).split('\r\n');
  lines.forEach((line, i) => {
    const separator = i === lines.length - 1 ? ' ' : '-';
    assert.ok(line.startsWith(`${r.code}${separator}`), `${context}: ${JSON.stringify(line)}`);
    assert.doesNotMatch(line, /[\r\n\0]/, `${context}: ${JSON.stringify(line)}`);
    assert.ok(Buffer.byteLength(line) + 2 <= 512, `${context}: reply line of ${Buffer.byteLength(line) + 2} octets`);
  });
  if (statusRequired) {
    assert.match(r.status ?? '', /^[245]\.\d{1,3}\.\d{1,3}$/, `${context}: enhanced status of ${JSON.stringify(wireForm)}`);
    assert.equal(r.status![0], String(r.code)[0], `${context}: status class of ${JSON.stringify(wireForm)}`);
  }
}

/** Which replies may go without an enhanced status code (RFC 2034 §3): greeting, HELO/EHLO, 3xx. */
function statusRequired(verb: string, r: Reply): boolean {
  if (r.code >= 300 && r.code < 400) return false;
  return !((verb === 'EHLO' || verb === 'HELO') && r.code === 250);
}

const TRANSACTION = ['EHLO client.example', 'MAIL FROM:<sender@remote.example>', 'RCPT TO:<alice@example.com>', 'DATA'];

/** Read through a call, so that the compiler does not keep the narrowing from before an await. */
const stateOf = (session: SmtpSession): SessionState => session.state;

function fuzzHooks() {
  let next = 0;
  const hooks = {
    enqueued: 0,
    async checkRecipient(address: string): Promise<RecipientVerdict> {
      if (address.startsWith('fail')) throw new Error('lookup failed');
      const lower = address.toLowerCase();
      if (lower === 'postmaster' || lower.endsWith('@example.com')) return lower.startsWith('nobody') ? 'unknown-user' : 'local';
      return 'remote';
    },
    /** Every message store opened, and how each ended: committed or aborted, exactly once. */
    stores: [] as { committed: number; aborted: number }[],
    storeMessage(): MessageSink {
      const store = { committed: 0, aborted: 0 };
      hooks.stores.push(store);
      return {
        write: () => assert.equal(store.committed + store.aborted, 0, 'no write after the end'),
        commit: async () => {
          store.committed++;
          hooks.enqueued++;
        },
        abort: () => void store.aborted++,
      };
    },
    newQueueId: () => `Q${++next}`,
    async authenticate(user: string, password: string) {
      return user === 'alice' && password === 'secret' ? { ok: true as const, mailbox: 'alice@example.com' } : { ok: false as const };
    },
  };
  return hooks;
}

// --- Grammar ----------------------------------------------------------------------------------------

test('parseCommandLine never throws and splits at the first space, whatever the line', () => {
  fc.assert(
    fc.property(fc.oneof(commandLine, anyText), (line) => {
      const { verb, argument } = parseCommandLine(line);
      const space = line.indexOf(' ');
      assert.equal(verb, (space < 0 ? line : line.slice(0, space)).toUpperCase());
      assert.equal(argument, space < 0 ? '' : line.slice(space + 1));
    }),
    RUNS,
  );
});

test('parsePathArgument never throws; what it accepts is a valid path with well-formed parameters', () => {
  fc.assert(
    fc.property(fc.oneof(pathArgument, anyText), fc.constantFrom<'FROM' | 'TO'>('FROM', 'TO'), fc.boolean(), (argument, keyword, allowNull) => {
      const result = parsePathArgument(argument, keyword, allowNull);
      if (!result.ok) {
        assert.equal(typeof result.error, 'string');
        return;
      }
      const { address, parameters, utf8 } = result.value;
      assert.ok(Buffer.byteLength(address) <= 254);
      if (address === '') assert.ok(allowNull, 'the null path only where allowed');
      else if (!(keyword === 'TO' && address.toLowerCase() === 'postmaster')) assert.equal(validateMailbox(address), undefined);
      assert.equal(utf8, /[^\x00-\x7f]/.test(address));
      for (const [name, value] of parameters) {
        assert.match(name, /^[A-Z0-9][A-Z0-9-]*$/);
        if (value !== true) assert.doesNotMatch(value, /[\0-\x20=\x7f]/);
      }
    }),
    RUNS,
  );
});

test('parsePathArgument refuses every hostile argument with reply text that is one short, clean line', () => {
  fc.assert(
    fc.property(fc.oneof(pathArgument, anyText), fc.constantFrom<'FROM' | 'TO'>('FROM', 'TO'), (argument, keyword) => {
      const result = parsePathArgument(argument, keyword, true);
      if (!result.ok) assertValidReply({ code: 501, status: '5.5.4', lines: [result.error] }, true, `argument ${JSON.stringify(argument)}`);
    }),
    RUNS,
  );
});

test('validateMailbox never throws; what it accepts has a local part of at most 64 octets and a domain', () => {
  fc.assert(
    fc.property(fc.oneof(fc.tuple(localPart, domain).map(([l, d]) => `${l}@${d}`), anyText), (mailbox) => {
      const problem = validateMailbox(mailbox);
      if (problem !== undefined) {
        assert.equal(typeof problem, 'string');
        return;
      }
      const at = mailbox.lastIndexOf('@');
      assert.ok(at > 0);
      assert.ok(Buffer.byteLength(mailbox.slice(0, at)) <= 64);
      assert.ok(mailbox.length - at - 1 >= 1 && mailbox.length - at - 1 <= 255);
    }),
    RUNS,
  );
});

test('the parsers take megabyte inputs in linear time', () => {
  const hostile = [
    'a'.repeat(4_000_000),
    `FROM:<${'a.'.repeat(1_000_000)}@example.com>`,
    `TO:<"${'\\"'.repeat(1_000_000)}@example.com>`,
    `FROM:<a@${'a-'.repeat(1_000_000)}>`,
    `FROM:<a@b.example> ${'X=1 '.repeat(500_000)}`,
    `FROM:<${'\0\uD800'.repeat(1_000_000)}>`,
    `FROM:<${'@'.repeat(2_000_000)}:a@b.example>`,
  ];
  const started = Date.now();
  for (const text of hostile) {
    parseCommandLine(`MAIL ${text}`);
    parsePathArgument(text, 'FROM', true);
    parsePathArgument(text, 'TO', false);
    validateMailbox(text);
  }
  assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
});

// --- Session ----------------------------------------------------------------------------------------

test('a session fed any lines in any order never throws, answers valid replies, and stays in its states', async () => {
  await fc.assert(
    fc.asyncProperty(
      // Runs start at each point of a transaction, so that every state gets its share of noise.
      fc
        .tuple(fc.nat({ max: TRANSACTION.length }), fc.array(fc.oneof({ weight: 5, arbitrary: commandLine }, { weight: 1, arbitrary: dataBytes }), { minLength: 1, maxLength: 40 }))
        .map(([start, rest]) => [...TRANSACTION.slice(0, start), ...rest]),
      fc.integer({ min: 1, max: 30 }),
      fc.boolean(),
      async (steps, maxErrors, plaintextAuth) => {
        const hooks = fuzzHooks();
        const context = { serverName: 'mx.example.net', clientAddress: '192.0.2.10', authAvailable: true, allowPlaintextAuth: plaintextAuth, now: () => new Date(0) };
        const session = new SmtpSession(context, { maxMessageBytes: 2000, maxRecipients: 3, maxErrors, bareLineEndings: 'reject', maxMessagesPerConnection: 3 }, hooks);
        assertValidReply(session.greeting(), false, 'greeting');
        let queued = 0;
        for (const step of steps) {
          if (session.readingData) {
            // The connection hands the session the bytes, as server.ts does, until the terminator (DATA)
            // or the announced chunk size (BDAT, padded here; a chunk too big to pad ends the run, as the
            // connection's data deadline would).
            const bytes = typeof step === 'string' ? Buffer.from(step, 'utf8') : step;
            const dataSection = session.state === 'Data';
            let used = session.pushData(bytes);
            if (used < 0 && dataSection) used = session.pushData(Buffer.from('\r\n.\r\n'));
            for (let i = 0; used < 0 && i < 20; i++) used = session.pushData(Buffer.alloc(1000, 0x61));
            if (used < 0) break;
            const r = await session.finishData();
            assertValidReply(r, true, 'end of data or chunk');
            if (/queued as/.test(r.lines.join(' '))) queued++;
            const after = stateOf(session);
            assert.ok(after === 'Ready' || after === 'Closed' || (!dataSection && STATES.has(after)), `after data: ${after}`);
            if (r.close) break;
            continue;
          }
          const line = typeof step === 'string' ? step : step.toString('utf8');
          // The line reader never passes a line with its LF; a CR may remain inside.
          const commandText = line.replace(/\n/g, '');
          const inSasl = session.state === 'Auth';
          const r = await session.command(commandText);
          const verb = inSasl ? '' : parseCommandLine(commandText).verb;
          if (r === undefined) {
            assert.ok(verb === 'BDAT' && session.readingData, `no reply only when a BDAT chunk follows: ${JSON.stringify(commandText)}`);
            continue;
          }
          assertValidReply(r, statusRequired(verb, r), `${session.state} ${JSON.stringify(commandText.slice(0, 200))}`);
          // "BDAT 0 LAST" has no chunk to read: the message ends with the command's own reply (RFC 3030 §2).
          if (/queued as/.test(r.lines.join(' '))) queued++;
          assert.ok(STATES.has(session.state), session.state);
          assert.equal(r.close === true, session.state === 'Closed', `close flag and state agree after ${JSON.stringify(commandText)}`);
          if (r.code === 354) assert.equal(session.state, 'Data');
          if (r.close) break;
        }
        assert.equal(hooks.enqueued, queued, 'every "queued as" reply is one enqueue, and no enqueue without it');
        session.ended(); // the connection goes: a message part-way through is dropped
        for (const store of hooks.stores) assert.equal(store.committed + store.aborted, 1, 'each message store is committed or aborted, once');
      },
    ),
    // Found by CI: an empty last chunk ends the message in the BDAT command's own reply.
    { ...RUNS, examples: [[[...TRANSACTION.slice(0, 3), 'BDAT 0 LAST', 'EHLO a.example'], 1, false]] },
  );
});

// --- DATA reader ------------------------------------------------------------------------------------

test('the DATA reader gives the same result however the bytes are split into chunks', () => {
  fc.assert(
    fc.property(withSplits(dataBytes), fc.constantFrom<BareLineEndingPolicy>('reject', 'normalize'), fc.integer({ min: 1, max: 3000 }), ([bytes, cuts], policy, max) => {
      const whole = readData([bytes], max, policy);
      const split = readData(chunksOf(bytes, cuts), max, policy);
      assert.equal(split.consumed, whole.consumed);
      assert.deepEqual(split.result, whole.result);
    }),
    { numRuns: 500 },
  );
});

test('the DATA reader ends exactly after the first <CRLF>.<CRLF> and never elsewhere', () => {
  fc.assert(
    fc.property(withSplits(dataBytes), fc.constantFrom<BareLineEndingPolicy>('reject', 'normalize'), ([bytes, cuts], policy) => {
      const { consumed } = readData(chunksOf(bytes, cuts), 1_000_000, policy);
      assert.equal(consumed, terminatorEnd(bytes), `input ${JSON.stringify(bytes.toString('latin1'))}`);
    }),
    { numRuns: 500 },
  );
});

test('the DATA reader output is as long as the size it counts, and is dropped once over the limit', () => {
  fc.assert(
    fc.property(withSplits(dataBytes), fc.constantFrom<BareLineEndingPolicy>('reject', 'normalize'), fc.integer({ min: 0, max: 400 }), ([bytes, cuts], policy, max) => {
      const { result } = readData(chunksOf(bytes, cuts), max, policy);
      if (result.oversize) {
        assert.ok(result.size > max);
        assert.equal(result.message.length, 0);
      } else {
        assert.ok(result.size <= max);
        assert.equal(result.message.length, result.size);
      }
      const unlimited = readData([bytes], 1_000_000, policy).result;
      assert.equal(result.size, unlimited.size, 'bytes past the limit are still counted');
      if (policy === 'normalize') assert.doesNotMatch(result.message.toString('latin1'), /\r(?!\n)|(?<!\r)\n/, 'normalised to CRLF');
    }),
    { numRuns: 400 },
  );
});

/** Message content whose only line endings are CRLF: lines of anything but CR and LF. */
const crlfContent = fc
  .array(
    fc.array(
      fc.oneof(
        fc.constantFrom('.', '..', '.\u00e9', 'a', ' ', '\0', '\t', 'Subject: x').map((s) => Buffer.from(s, 'utf8')),
        fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b.filter((x) => x !== 0x0d && x !== 0x0a))),
      ),
      { maxLength: 6 },
    ),
    { maxLength: 20 },
  )
  .chain((lines) =>
    fc.boolean().map((finalCrlf) => {
      const joined = Buffer.concat(lines.map((parts) => Buffer.concat(parts)).flatMap((line, i) => (i === 0 ? [line] : [Buffer.from('\r\n'), line])));
      return finalCrlf && joined.length > 0 ? Buffer.concat([joined, Buffer.from('\r\n')]) : joined;
    }),
  );

test('dot-stuffing then the DATA reader gives back the original bytes (plus the CRLF the sender adds)', async () => {
  await fc.assert(
    fc.asyncProperty(crlfContent, fc.uniqueArray(fc.nat(), { maxLength: 8 }), async (content, rawCuts) => {
      const cuts = rawCuts.map((c) => (content.length === 0 ? 0 : c % (content.length + 1)));
      const stuffed: Buffer[] = [];
      for await (const piece of dotStuff(chunksOf(content, cuts))) stuffed.push(piece);
      const wireBytes = Buffer.concat(stuffed);
      const { consumed, result } = readData(chunksOf(wireBytes, cuts.map((c) => Math.min(c, wireBytes.length))), 1_000_000, 'reject');
      assert.equal(consumed, wireBytes.length, 'the terminator dotStuff adds is the one the reader finds');
      const expected = content.length === 0 || content.subarray(-2).equals(Buffer.from('\r\n')) ? content : Buffer.concat([content, Buffer.from('\r\n')]);
      assert.deepEqual(result.message, expected);
      assert.equal(result.bareLineEndings, 0);
      assert.equal(result.eightBit, content.some((b) => b >= 0x80));
    }),
    { numRuns: 400 },
  );
});

// --- Regressions found by the properties above ------------------------------------------------------

test('an EHLO name over 255 octets is answered 501 5.5.4 and never echoed into an over-long 250 line', async () => {
  const session = new SmtpSession({ serverName: 'mx.example.net', clientAddress: '192.0.2.10' }, { maxMessageBytes: 2000, maxRecipients: 3, maxErrors: 10, bareLineEndings: 'reject' }, fuzzHooks());
  assert.equal(formatReply(await commandReply(session, `EHLO ${'a'.repeat(1500)}`)), '501 5.5.4 Invalid domain name\r\n');
  assert.equal(formatReply(await commandReply(session, `EHLO ${'\u00e9'.repeat(200)}`)), '501 5.5.4 Invalid domain name\r\n', '400 octets of UTF-8');
  assert.match(formatReply(await commandReply(session, `EHLO ${'a'.repeat(255)}`)), /^250-mx\.example\.net Hello a{255} \[192\.0\.2\.10\]\r\n/);
});

test('an invalid MAIL parameter is quoted as short printable ASCII, so no CR, NUL or 2 KB goes back in the reply', async () => {
  const session = new SmtpSession({ serverName: 'mx.example.net', clientAddress: '192.0.2.10' }, { maxMessageBytes: 2000, maxRecipients: 3, maxErrors: 10, bareLineEndings: 'reject' }, fuzzHooks());
  await commandReply(session, 'EHLO client.example');
  assert.equal(formatReply(await commandReply(session, 'MAIL FROM:<a@example.com> X\r250 fake=\0')), '501 5.1.7 Invalid parameter X?250\r\n');
  const long = formatReply(await commandReply(session, `MAIL FROM:<a@example.com> ${'Y'.repeat(2000)}=`));
  assert.equal(long, `501 5.1.7 Invalid parameter ${'Y'.repeat(64)}...\r\n`);
});
