// Settings from the environment: each bad variable is one line naming it, the value given and the form it
// accepts; sizes and durations may carry units; every loader's problems are reported together.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import {
  boolSetting,
  ConfigError,
  durationSetting,
  gatherSettings,
  intSetting,
  loadConfig,
  optionalPortSetting,
  parseDuration,
  parseSize,
  portSetting,
  sizeSetting,
} from './config.js';
import { loadLogLevel } from './lifecycle.js';

const schema = z.object({
  port: portSetting(2525),
  tlsPort: optionalPortSetting(2465),
  maxBytes: sizeSetting(25 * 1024 * 1024, 1024),
  timeoutMs: durationSetting(300_000, 1),
  maxErrors: intSetting(20, 1),
  allowPlaintext: boolSetting(false),
  bareLineEndings: z.enum(['reject', 'normalize']).default('reject'),
});
const NAMES = {
  port: 'SMTP_PORT',
  tlsPort: 'SMTPS_PORT',
  maxBytes: 'MAX_MESSAGE_BYTES',
  timeoutMs: 'SMTP_COMMAND_TIMEOUT_MS',
  maxErrors: 'SMTP_MAX_ERRORS',
  allowPlaintext: 'SMTP_ALLOW_PLAINTEXT_AUTH',
  bareLineEndings: 'SMTP_BARE_LINE_ENDINGS',
};
const load = (env: Record<string, string>) => loadConfig(schema, NAMES, env);

/** The error lines of a load that must fail. */
function problemLines(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n').slice(1).map((line) => line.trim());
  }
  assert.fail('expected a ConfigError');
}

test('unset and empty variables take the defaults', () => {
  assert.deepEqual(load({ SMTP_PORT: '' }), {
    port: 2525,
    tlsPort: 2465,
    maxBytes: 26_214_400,
    timeoutMs: 300_000,
    maxErrors: 20,
    allowPlaintext: false,
    bareLineEndings: 'reject',
  });
});

test('sizes are bytes or carry KB, MB or GB (1024-based, any case, K/M/G and KiB too)', () => {
  assert.equal(load({ MAX_MESSAGE_BYTES: '25MB' }).maxBytes, 26_214_400);
  assert.deepEqual(['26214400', '512KB', '512k', '25 MiB', '1.5GB', '2g'].map(parseSize), [26_214_400, 524_288, 524_288, 26_214_400, 1_610_612_736, 2_147_483_648]);
  assert.deepEqual(['25XB', 'MB', '-1', '1e6', ''].map(parseSize), [undefined, undefined, undefined, undefined, undefined]);
});

test('durations are milliseconds or carry ms, s, m, h or d', () => {
  assert.equal(load({ SMTP_COMMAND_TIMEOUT_MS: '5m' }).timeoutMs, 300_000);
  assert.deepEqual(['1500', '250ms', '90s', '5m', '4h', '1.5d', '10 S'].map(parseDuration), [1500, 250, 90_000, 300_000, 14_400_000, 129_600_000, 10_000]);
  assert.deepEqual(['soon', '5w', '-5s', ''].map(parseDuration), [undefined, undefined, undefined, undefined]);
});

test('booleans take true/false, yes/no, on/off and 1/0', () => {
  assert.deepEqual(['true', 'YES', 'on', '1', 'false', 'no', 'off', '0'].map((v) => load({ SMTP_ALLOW_PLAINTEXT_AUTH: v }).allowPlaintext), [true, true, true, true, false, false, false, false]);
});

test('each bad variable is one line: its name, the value given, and the form it accepts', () => {
  assert.deepEqual(
    problemLines(() =>
      load({
        SMTP_PORT: 'abc',
        SMTPS_PORT: '70000',
        MAX_MESSAGE_BYTES: '25XB',
        SMTP_COMMAND_TIMEOUT_MS: 'soon',
        SMTP_MAX_ERRORS: '0',
        SMTP_ALLOW_PLAINTEXT_AUTH: 'maybe',
        SMTP_BARE_LINE_ENDINGS: 'fix',
      }),
    ),
    [
      'SMTP_PORT="abc": expected a port number (0-65535)',
      'SMTPS_PORT="70000": expected a port number (0-65535) or "off"',
      'MAX_MESSAGE_BYTES="25XB": expected a size: bytes, or a number with KB, MB or GB (1024-based, e.g. 512KB, 25MB) of at least 1024 bytes',
      'SMTP_COMMAND_TIMEOUT_MS="soon": expected a duration: milliseconds, or a number with ms, s, m, h or d (e.g. 500ms, 30s, 5m, 1h) of at least 1 ms',
      'SMTP_MAX_ERRORS="0": expected a whole number of at least 1',
      'SMTP_ALLOW_PLAINTEXT_AUTH="maybe": expected true or false (also yes/no, on/off, 1/0)',
      'SMTP_BARE_LINE_ENDINGS="fix": expected one of: reject, normalize',
    ],
  );
});

test('a value below the minimum is refused with the minimum named', () => {
  assert.equal(load({ MAX_MESSAGE_BYTES: '1KB' }).maxBytes, 1024);
  assert.match(problemLines(() => load({ MAX_MESSAGE_BYTES: '1023' }))[0]!, /^MAX_MESSAGE_BYTES="1023": expected a size: .* of at least 1024 bytes$/);
});

test('LOG_LEVEL is one of pino\'s levels', () => {
  assert.equal(loadLogLevel({ LOG_LEVEL: 'debug' }), 'debug');
  assert.equal(loadLogLevel({}), 'info');
  assert.deepEqual(problemLines(() => loadLogLevel({ LOG_LEVEL: 'loud' })), ['LOG_LEVEL="loud": expected one of: fatal, error, warn, info, debug, trace, silent']);
});

test('several loaders report every bad variable together, and return their results by name when all are good', () => {
  const loaders = (env: Record<string, string>) => ({ smtp: () => load(env), logLevel: () => loadLogLevel(env) });
  assert.deepEqual(problemLines(() => gatherSettings(loaders({ SMTP_PORT: 'abc', LOG_LEVEL: 'loud' }))), [
    'SMTP_PORT="abc": expected a port number (0-65535)',
    'LOG_LEVEL="loud": expected one of: fatal, error, warn, info, debug, trace, silent',
  ]);
  const good = gatherSettings(loaders({ SMTP_PORT: '25' }));
  assert.deepEqual([good.smtp.port, good.logLevel], [25, 'info']);
});

test('a size with an upper bound refuses more, naming the bound', () => {
  const bounded = z.object({ readAhead: sizeSetting(1024 * 1024, 0, 2 * 1024 * 1024) });
  assert.equal(loadConfig(bounded, { readAhead: 'POP3_READ_AHEAD_BYTES' }, { POP3_READ_AHEAD_BYTES: '2MB' }).readAhead, 2 * 1024 * 1024);
  assert.throws(() => loadConfig(bounded, { readAhead: 'POP3_READ_AHEAD_BYTES' }, { POP3_READ_AHEAD_BYTES: '3MB' }), /POP3_READ_AHEAD_BYTES.*at most 2097152 bytes/);
});
