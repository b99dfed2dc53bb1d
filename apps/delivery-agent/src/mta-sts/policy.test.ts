// The MTA-STS grammar: the _mta-sts TXT record (RFC 8461 §3.1), the policy file (§3.2), MX matching
// (§4.1), and the TLS-RPT record (RFC 8460 §3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mxAllowed, parsePolicy, parseStsRecord, parseTlsRptRecord, PolicySyntaxError } from './policy.js';

test('a policy file with CRLF lines, unknown fields and repeated mx parses (§3.2)', () => {
  const policy = parsePolicy('version: STSv1\r\nmode: enforce\r\nmx: MX1.Example.COM.\r\nmx: *.backup.example.com\r\nmx: mx1.example.com\r\nmax_age: 604800\r\nextension: ignored\r\n');
  assert.deepEqual(policy, { mode: 'enforce', mx: ['mx1.example.com', '*.backup.example.com'], maxAge: 604800 });
});

test('LF line ends and spaces around values are accepted', () => {
  assert.deepEqual(parsePolicy('version:STSv1\nmode:   testing  \nmx: mx.example.net\nmax_age: 0\n'), { mode: 'testing', mx: ['mx.example.net'], maxAge: 0 });
});

test('mode none needs no mx', () => {
  assert.deepEqual(parsePolicy('version: STSv1\nmode: none\nmax_age: 86400\n'), { mode: 'none', mx: [], maxAge: 86400 });
});

test('a wrong version, mode or max_age, or an enforce policy without mx, is refused with the reason', () => {
  const refused = (text: string, reason: RegExp) => assert.throws(() => parsePolicy(text), (err: Error) => err instanceof PolicySyntaxError && reason.test(err.message));
  refused('version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n', /version/);
  refused('mode: enforce\nmx: a.example\nmax_age: 1\n', /version/);
  refused('version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n', /mode "strict"/);
  refused('version: STSv1\nmode: enforce\nmx: a.example\n', /max_age ""/);
  refused('version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -5\n', /max_age/);
  refused('version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n', /max_age/);
  refused('version: STSv1\nmode: enforce\nmax_age: 86400\n', /at least one mx/);
});

test('hostile policy files: HTML, binary, a bad mx pattern, are errors and never throw anything else', () => {
  for (const text of ['<html><body>hello</body></html>', '\u0000\u0001\u0002', 'version: STSv1\nmode: enforce\nmx: *.*.example.com\nmax_age: 1\n', 'version: STSv1\nmode: enforce\nmx: a b.example\nmax_age: 1\n', 'version: STSv1\nmode: enforce\nmx: ' + 'a'.repeat(300) + '\nmax_age: 1\n']) {
    assert.throws(() => parsePolicy(text), PolicySyntaxError);
  }
});

test('the _mta-sts record: exactly one v=STSv1 record with an id of 1-32 letters and digits (§3.1)', () => {
  assert.equal(parseStsRecord([['v=STSv1; id=20160831085700Z;']]), '20160831085700Z');
  assert.equal(parseStsRecord([['v=STSv1; ', 'id=abc123']]), 'abc123', 'strings of one record are joined');
  assert.equal(parseStsRecord([['v=spf1 -all'], ['v=STSv1; id=x1']]), 'x1', 'other records are ignored');
  assert.equal(parseStsRecord([['v=STSv1; id=a'], ['v=STSv1; id=b']]), undefined, 'two records: no policy');
  assert.equal(parseStsRecord([['v=STSv1; id=not-alnum']]), undefined);
  assert.equal(parseStsRecord([['v=STSv1; id=' + 'a'.repeat(33)]]), undefined);
  assert.equal(parseStsRecord([['v=STSv1;']]), undefined);
  assert.equal(parseStsRecord([]), undefined);
});

test('mx patterns: exact names ignoring case and a trailing dot; a wildcard stands for one leftmost label only (§4.1)', () => {
  const patterns = ['mail.example.com', '*.example.net'];
  assert.equal(mxAllowed('mail.example.com', patterns), true);
  assert.equal(mxAllowed('MAIL.Example.Com.', patterns), true);
  assert.equal(mxAllowed('mx1.example.net', patterns), true);
  assert.equal(mxAllowed('example.net', patterns), false, 'the wildcard does not match the parent');
  assert.equal(mxAllowed('a.b.example.net', patterns), false, 'nor two labels');
  assert.equal(mxAllowed('evilexample.net', patterns), false);
  assert.equal(mxAllowed('other.example.com', patterns), false);
});

test('the TLS-RPT record: v=TLSRPTv1 with mailto: and https: report addresses (RFC 8460 §3)', () => {
  assert.deepEqual(parseTlsRptRecord([['v=TLSRPTv1; rua=mailto:reports@example.com,https://reports.example.com/v1']]), ['mailto:reports@example.com', 'https://reports.example.com/v1']);
  assert.equal(parseTlsRptRecord([['v=TLSRPTv1;']]), undefined);
  assert.equal(parseTlsRptRecord([['v=TLSRPTv1; rua=ftp://x']]), undefined);
  assert.equal(parseTlsRptRecord([['v=TLSRPTv1; rua=mailto:a@b'], ['v=TLSRPTv1; rua=mailto:c@d']]), undefined);
});
