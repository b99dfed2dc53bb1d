// A library's console output becomes the service's own JSON log lines, never a stray line on stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { CoalescingOutput, routeConsoleTo } from './logger.js';

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
