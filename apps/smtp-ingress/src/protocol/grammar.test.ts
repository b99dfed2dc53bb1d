// The SMTP command grammar: RFC 5321 §4.1.2 (Path, Mailbox, Local-part, address literals), §3.3 (source
// routes), §4.5.3.1 (size limits) and RFC 1869 parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDomain, parseCommandLine, parsePathArgument, validateMailbox } from './grammar.js';

function accepted(argument: string, keyword: 'FROM' | 'TO' = 'FROM', allowNull = keyword === 'FROM') {
  const result = parsePathArgument(argument, keyword, allowNull);
  assert.ok(result.ok, `${argument}: ${result.ok ? '' : result.error}`);
  return result.value;
}

function refused(argument: string, keyword: 'FROM' | 'TO' = 'FROM', allowNull = keyword === 'FROM'): string {
  const result = parsePathArgument(argument, keyword, allowNull);
  assert.ok(!result.ok, `${argument} should be refused`);
  return result.error;
}

test('a command line splits into an upper-cased verb and the raw argument', () => {
  assert.deepEqual(parseCommandLine('mail FROM:<a@b.example> SIZE=1'), { verb: 'MAIL', argument: 'FROM:<a@b.example> SIZE=1' });
  assert.deepEqual(parseCommandLine('QUIT'), { verb: 'QUIT', argument: '' });
  assert.deepEqual(parseCommandLine('EHLO  x'), { verb: 'EHLO', argument: ' x' });
});

test('a plain path is parsed without its angle brackets', () => {
  assert.deepEqual(accepted('FROM:<alice@example.com>'), { address: 'alice@example.com', parameters: new Map(), utf8: false });
});

test('the keyword is case-insensitive', () => {
  assert.equal(accepted('from:<alice@example.com>').address, 'alice@example.com');
  assert.equal(accepted('To:<alice@example.com>', 'TO').address, 'alice@example.com');
});

test('a space after the colon is tolerated', () => {
  assert.equal(accepted('FROM: <alice@example.com>').address, 'alice@example.com');
  assert.equal(accepted('TO:   <alice@example.com>', 'TO').address, 'alice@example.com');
});

test('the null path <> is allowed only where the caller allows it', () => {
  assert.equal(accepted('FROM:<>').address, '');
  assert.equal(refused('TO:<>', 'TO'), 'Null path not allowed here');
});

test('the wrong keyword is refused', () => {
  assert.equal(refused('TO:<alice@example.com>', 'FROM'), 'Syntax: MAIL FROM:<address>');
  assert.equal(refused('FROM:<alice@example.com>', 'TO'), 'Syntax: RCPT TO:<address>');
  assert.equal(refused('FROM <alice@example.com>'), 'Syntax: MAIL FROM:<address>');
});

test('a path without angle brackets is refused', () => {
  assert.equal(refused('FROM:alice@example.com'), 'Address must be enclosed in <>');
});

test('a path without its closing > is refused', () => {
  assert.equal(refused('FROM:<alice@example.com'), 'Missing closing >');
  assert.equal(refused('FROM:<"alice>@example.com'), 'Missing closing >');
});

test('a quoted local part may hold spaces, @, > and escaped quotes', () => {
  assert.equal(accepted('FROM:<"john doe"@example.com>').address, '"john doe"@example.com');
  assert.equal(accepted('FROM:<"a@b"@example.com>').address, '"a@b"@example.com');
  assert.equal(accepted('FROM:<"a>b"@example.com> SIZE=10').address, '"a>b"@example.com');
  assert.equal(accepted('FROM:<"say \\"hi\\""@example.com>').address, '"say \\"hi\\""@example.com');
});

test('a dot-string local part must not have empty atoms or specials', () => {
  assert.equal(validateMailbox('first.last@example.com'), undefined);
  assert.equal(validateMailbox("o'hara+tag=x@example.com"), undefined);
  assert.equal(validateMailbox('.alice@example.com'), 'invalid local part');
  assert.equal(validateMailbox('alice.@example.com'), 'invalid local part');
  assert.equal(validateMailbox('al..ice@example.com'), 'invalid local part');
  assert.equal(validateMailbox('al ice@example.com'), 'invalid local part');
  assert.equal(validateMailbox('a(b)@example.com'), 'invalid local part');
});

test('a mailbox needs a local part, an @ and a domain', () => {
  assert.equal(validateMailbox('alice'), 'address must be local-part@domain');
  assert.equal(validateMailbox('@example.com'), 'address must be local-part@domain');
  assert.equal(validateMailbox('alice@'), 'invalid domain');
  assert.equal(validateMailbox('alice@exa_mple.com'), 'invalid domain');
  assert.equal(validateMailbox('alice@example..com'), 'invalid domain');
  assert.equal(validateMailbox('alice@-example.com'), 'invalid domain');
});

test('the local part may have at most 64 octets', () => {
  assert.equal(validateMailbox(`${'a'.repeat(64)}@example.com`), undefined);
  assert.equal(validateMailbox(`${'a'.repeat(65)}@example.com`), 'local part longer than 64 octets');
  // Octets, not characters: 32 two-octet characters fit, 33 do not.
  assert.equal(validateMailbox(`${'é'.repeat(32)}@example.com`), undefined);
  assert.equal(validateMailbox(`${'é'.repeat(33)}@example.com`), 'local part longer than 64 octets');
});

test('a path may have at most 256 octets with its angle brackets', () => {
  const domain = (last: number) => ['d'.repeat(60), 'd'.repeat(60), 'd'.repeat(60), 'e'.repeat(last)].join('.');
  const fits = `${'a'.repeat(64)}@${domain(6)}`;
  const tooLong = `${'a'.repeat(64)}@${domain(7)}`;
  assert.equal(fits.length, 254);
  assert.equal(accepted(`FROM:<${fits}>`).address, fits);
  assert.equal(refused(`FROM:<${tooLong}>`), 'Path longer than 256 octets');
});

test('an address literal is a valid domain', () => {
  assert.equal(accepted('FROM:<alice@[192.0.2.1]>').address, 'alice@[192.0.2.1]');
  assert.equal(accepted('FROM:<alice@[IPv6:2001:db8::1]>').address, 'alice@[IPv6:2001:db8::1]');
  assert.equal(isDomain('[192.0.2]'), false);
  assert.equal(isDomain('[example.com]'), false);
});

test('a source route is ignored', () => {
  assert.equal(accepted('FROM:<@relay1.example,@relay2.example:alice@example.com>').address, 'alice@example.com');
  assert.equal(accepted('TO:<@relay.example:bob@example.com>', 'TO').address, 'bob@example.com');
  assert.equal(refused('FROM:<@relay.example>'), 'Invalid source route');
});

test('the bare postmaster is a valid recipient but not a valid sender', () => {
  assert.equal(accepted('TO:<postmaster>', 'TO').address, 'postmaster');
  assert.equal(accepted('TO:<Postmaster>', 'TO').address, 'Postmaster');
  assert.match(refused('FROM:<postmaster>'), /^Bad address syntax/);
});

test('parameters follow the path after a space and are keyed in upper case', () => {
  const { parameters } = accepted('FROM:<alice@example.com> size=100  BODY=8BITMIME SMTPUTF8');
  assert.deepEqual([...parameters], [
    ['SIZE', '100'],
    ['BODY', '8BITMIME'],
    ['SMTPUTF8', true],
  ]);
});

test('parameters glued to the path or malformed are refused', () => {
  assert.equal(refused('FROM:<alice@example.com>SIZE=1'), 'Parameters must follow the path after a space');
  assert.equal(refused('FROM:<alice@example.com> -X=1'), 'Invalid parameter -X=1');
  assert.equal(refused('FROM:<alice@example.com> X='), 'Invalid parameter X=');
  assert.equal(refused('FROM:<alice@example.com> X=a=b'), 'Invalid parameter X=a=b');
});

test('a parameter given twice, in any case, is refused as a parameter fault (RFC 3461 §4)', () => {
  const twice = parsePathArgument('TO:<alice@example.com> NOTIFY=NEVER notify=SUCCESS', 'TO', false);
  assert.deepEqual(twice, { ok: false, error: 'Duplicate parameter NOTIFY', parameters: true });
  assert.equal(refused('FROM:<alice@example.com> SMTPUTF8 SMTPUTF8'), 'Duplicate parameter SMTPUTF8');
  const path = parsePathArgument('FROM:<no-at-sign>', 'FROM', true);
  assert.ok(!path.ok && path.parameters === undefined, 'a path fault is not a parameter fault');
});

test('non-ASCII addresses are flagged as needing SMTPUTF8', () => {
  assert.equal(accepted('FROM:<jösé@exämple.com>').utf8, true);
  assert.equal(accepted('FROM:<"jösé"@example.com>').utf8, true);
  assert.equal(accepted('FROM:<jose@example.com>').utf8, false);
});
