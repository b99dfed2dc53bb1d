// A library's console output becomes the service's own JSON log lines, never a stray line on stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { routeConsoleTo } from './logger.js';

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
