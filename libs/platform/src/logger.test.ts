// A library's console output becomes the service's own JSON log lines, never a stray line on stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { CoalescingOutput, loggerOptions, routeConsoleTo } from './logger.js';

test('console.log and console.warn of a library become debug and warn log lines', () => {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const saved = { log: console.log, info: console.info, debug: console.debug, warn: console.warn, error: console.error };
  try {
    routeConsoleTo(logger);
    console.log('TOTAL', 120, 'EXPECTING', 100);
    console.warn('careful: %s', 'something');
  } finally {
    Object.assign(console, saved);
  }
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg, l.console]),
    [
      [20, 'TOTAL 120 EXPECTING 100', true],
      [40, 'careful: something', true],
    ],
  );
});

test('log output: a line after a quiet spell goes by the end of its turn; lines that keep coming go together, once per interval', async () => {
  const written: string[] = [];
  let held = '';
  const output = new CoalescingOutput({ write: (text) => void (held += text), flush: () => void (written.push(held), (held = '')) }, 1000);
  output.write('a\n');
  assert.deepEqual(written, [], 'held until the end of the turn');
  await nextTurn();
  assert.deepEqual(written, ['a\n']);
  // More lines in the next turns, inside the interval: held, then written in one go.
  for (const line of ['b\n', 'c\n', 'd\n']) {
    output.write(line);
    await nextTurn();
  }
  assert.deepEqual(written, ['a\n'], 'no second write within the interval');
  await sleep(1100);
  assert.deepEqual(written, ['a\n', 'b\nc\nd\n']);
});

test('credentials never reach a log line: password, secret and token at the top or one level down are censored, the caller\'s objects untouched', () => {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(loggerOptions('test', 'info'), { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const request = { user: 'alice@example.test', password: 'hunter2' };
  const err = Object.assign(new Error('login refused'), { token: 'abc123' });
  logger.info({ password: 'p1', secret: 's1', request, err, results: [{ recipient: 'bob@example.test' }] }, 'with credentials');
  logger.info({ queueId: 'Q1', request: { user: 'carol@example.test' } }, 'without');
  const [censored, plain] = lines;
  assert.equal(censored!.password, '[redacted]');
  assert.equal(censored!.secret, '[redacted]');
  assert.deepEqual(censored!.request, { user: 'alice@example.test', password: '[redacted]' });
  const loggedErr = censored!.err as Record<string, unknown>;
  assert.equal(loggedErr.token, '[redacted]');
  assert.equal(loggedErr.message, 'login refused', 'an error keeps its message and stack');
  assert.match(String(loggedErr.stack), /login refused/);
  assert.deepEqual(censored!.results, [{ recipient: 'bob@example.test' }]);
  assert.equal(request.password, 'hunter2', "the caller's object is not changed");
  assert.equal(err.token, 'abc123');
  assert.doesNotMatch(JSON.stringify(lines), /hunter2|abc123|"p1"|"s1"/);
  assert.deepEqual(plain!.request, { user: 'carol@example.test' });
});
