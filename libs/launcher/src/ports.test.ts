// freePort never hands out a port that fetch refuses (a readiness check on it could never pass).
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { FETCH_BLOCKED_PORTS, freePort, PORT_RANGE } from './ports.js';

test('fetch refuses the blocked ports, and freePort never hands one out', async () => {
  for (const port of FETCH_BLOCKED_PORTS) await assert.rejects(fetch(`http://127.0.0.1:${port}/`), (err: Error) => /bad port/.test(String(err.cause ?? err)));
  // Every draw lands on 10080 first: freePort must draw again.
  const random = Math.random;
  let draws = 0;
  Math.random = () => (draws++ === 0 ? (10_080 - PORT_RANGE.start + 0.5) / (PORT_RANGE.end - PORT_RANGE.start) : random());
  try {
    const port = await freePort();
    assert.ok(!FETCH_BLOCKED_PORTS.has(port), `got ${port}`);
    assert.ok(draws >= 2, 'the blocked port was drawn and passed over');
  } finally {
    Math.random = random;
  }
});
