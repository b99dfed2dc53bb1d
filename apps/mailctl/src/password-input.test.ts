// New passwords: typed twice on a terminal, the first line of stdin otherwise; trivial ones need --force.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { readNewPassword, trivialPasswordReason } from './password-input.js';

/** A stand-in terminal that types `keys`, a chunk at a time once the program reads. */
function terminal(...keys: string[]): NodeJS.ReadStream {
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => input }) as unknown as NodeJS.ReadStream;
  const typeNext = () => {
    const next = keys.shift();
    if (next !== undefined) setImmediate(() => input.write(next));
  };
  input.on('resume', typeNext);
  return input;
}

const stdin = (text: string) => Object.assign(new PassThrough(), { isTTY: false }).end(text) as unknown as NodeJS.ReadStream;
const ALICE = 'alice@example.test';

test('on a terminal the password is asked twice and must match', async () => {
  assert.equal(await readNewPassword(ALICE, {}, terminal('long enough\r', 'long enough\r')), 'long enough');
  await assert.rejects(readNewPassword(ALICE, {}, terminal('long enough\r', 'long enuogh\r')), /^Error: the two passwords differ; nothing changed$/);
});

test('from stdin (a script) the first line is the password, asked once', async () => {
  assert.equal(await readNewPassword(ALICE, {}, stdin('long enough\nsecond line\n')), 'long enough');
});

test('short passwords and the account name are refused unless --force', async () => {
  assert.equal(trivialPasswordReason('1234567', ALICE), 'the password is shorter than 8 characters');
  assert.equal(trivialPasswordReason('Alice@Example.test', ALICE), 'the password is the account name');
  assert.equal(trivialPasswordReason('alicealice', 'alicealice@example.test'), 'the password is the account name');
  assert.equal(trivialPasswordReason('12345678', ALICE), undefined);
  await assert.rejects(readNewPassword(ALICE, {}, stdin('secret\n')), /^Error: the password is shorter than 8 characters; choose another, or give --force to set it anyway$/);
  assert.equal(await readNewPassword(ALICE, { force: true }, stdin('secret\n')), 'secret');
});
