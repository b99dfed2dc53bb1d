// Start-up requests to JetStream wait out the failures that pass (a request unanswered in time, a 503
// while a cluster elects its leader) and fail at once on any other (a refusal must still end a start).
// The errors are the client library's own classes, built as it builds them.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { TimeoutError } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { pino } from 'pino';
import { isPassingJetStreamFailure, whenJetStreamSettles } from './nats.js';

const unavailable = () => new JetStreamApiError({ code: 503, err_code: 10008, description: 'JetStream system temporarily unavailable' });
const notFound = () => new JetStreamApiError({ code: 404, err_code: JetStreamApiCodes.StreamNotFound, description: 'stream not found' });
const refused = () => new JetStreamApiError({ code: 400, err_code: 10052, description: 'replicas > 1 not supported in non-clustered mode' });

/** A logger that keeps what it was told to warn. */
function listeningLogger() {
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg) });
  return { logger, warnings };
}

test('which failures pass: a timeout and a 503, not a refusal or a missing stream', () => {
  assert.equal(isPassingJetStreamFailure(new TimeoutError()), true);
  assert.equal(isPassingJetStreamFailure(unavailable()), true);
  assert.equal(isPassingJetStreamFailure(refused()), false);
  assert.equal(isPassingJetStreamFailure(notFound()), false);
  assert.equal(isPassingJetStreamFailure(new Error('timeout')), false, 'an error is told by its class, not its text');
});

test('a request that times out, then is unavailable, is asked again until it answers, saying what it waits for', async () => {
  const { logger, warnings } = listeningLogger();
  const failures = [new TimeoutError(), unavailable()];
  let calls = 0;
  const answer = await whenJetStreamSettles(
    async () => {
      calls++;
      const failure = failures.shift();
      if (failure) throw failure;
      return 'info';
    },
    { logger, waitingFor: 'stream SPOOL', retryMs: 1, warnEveryMs: 0 },
  );
  assert.equal(answer, 'info');
  assert.equal(calls, 3);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /waiting for JetStream to answer/);
});

test('a refusal is thrown at once, without asking again', async () => {
  const { logger } = listeningLogger();
  let calls = 0;
  const failing = whenJetStreamSettles(
    async () => {
      calls++;
      throw refused();
    },
    { logger, waitingFor: 'stream SPOOL', retryMs: 1 },
  );
  await assert.rejects(failing, /replicas > 1/);
  assert.equal(calls, 1);
});

test('a failure the caller names (a stream not made yet) is waited out too, with its own words', async () => {
  const { logger, warnings } = listeningLogger();
  let calls = 0;
  await whenJetStreamSettles(
    async () => {
      if (++calls < 3) throw notFound();
    },
    { logger, waitingFor: 'stream SPOOL', retryMs: 1, warnEveryMs: 0, alsoWaitFor: (err) => (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound ? 'waiting for it to be made' : undefined) },
  );
  assert.equal(calls, 3);
  assert.deepEqual(warnings, ['waiting for it to be made', 'waiting for it to be made']);
});
