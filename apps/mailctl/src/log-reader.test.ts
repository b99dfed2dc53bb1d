// Reading the local run's log files back: sources merged by time (rotated files first), a message's lines
// by queue id, one readable line per record, and following files as they grow and rotate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { followLogs, formatLine, logFiles, mentions, readLogLines, type LogLine } from './log-reader.js';

const record = (time: string, service: string, fields: Record<string, unknown>) => `${JSON.stringify({ level: 30, time, service, ...fields })}\n`;

async function withLogDir(work: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'log-reader-'));
  try {
    await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('every source is read, rotated files first, and the lines merged by time', async () => {
  await withLogDir(async (dir) => {
    writeFileSync(join(dir, 'queue-manager.log.1'), record('2026-01-01T10:00:01.000Z', 'queue-manager', { msg: 'queued', queueId: 'Q1' }));
    writeFileSync(join(dir, 'queue-manager.log'), record('2026-01-01T10:00:03.000Z', 'queue-manager', { msg: 'delivered', queueId: 'Q1' }));
    writeFileSync(join(dir, 'smtp-ingress.log'), record('2026-01-01T10:00:00.000Z', 'smtp-ingress', { msg: 'accepted', queueId: 'Q1' }) + record('2026-01-01T10:00:02.000Z', 'smtp-ingress', { msg: 'accepted', queueId: 'Q2' }));
    writeFileSync(join(dir, 'nats-server.log'), '[1] 2026/01/01 10:00:00 [INF] Server is ready\n');
    writeFileSync(join(dir, 'notes.txt'), 'not a log\n');
    assert.deepEqual([...logFiles(dir).keys()], ['nats-server', 'queue-manager', 'smtp-ingress']);
    assert.deepEqual(logFiles(dir, 'queue-manager').get('queue-manager')!.map((p) => p.slice(dir.length + 1)), ['queue-manager.log.1', 'queue-manager.log']);
    const lines = readLogLines(dir);
    assert.deepEqual(lines.map((l) => l.source), ['nats-server', 'smtp-ingress', 'queue-manager', 'smtp-ingress', 'queue-manager']);
    assert.deepEqual(lines.filter((l) => mentions(l, 'Q1')).map((l) => [l.source, JSON.parse(l.raw).msg]), [
      ['smtp-ingress', 'accepted'],
      ['queue-manager', 'queued'],
      ['queue-manager', 'delivered'],
    ]);
    assert.deepEqual(readLogLines(dir, 'smtp-ingress').length, 2);
  });
});

test('a record reads as time, source, level, message and event, then its fields; other lines keep their text', () => {
  const line: LogLine = { source: 'mailbox-store', time: Date.parse('2026-01-01T10:00:00.000Z'), raw: JSON.stringify({ level: 30, time: '2026-01-01T10:00:00.000Z', service: 'mailbox-store', pid: 7, event: 'delivered', queueId: 'Q1', mailbox: 'alice@example.test', duplicate: false, msg: 'delivered' }) };
  assert.equal(formatLine(line), '2026-01-01T10:00:00.000Z mailbox-store info delivered [delivered] queueId=Q1 mailbox=alice@example.test duplicate=false');
  assert.equal(formatLine({ source: 'nats-server', time: 0, raw: '[1] [INF] Server is ready' }), 'nats-server: [1] [INF] Server is ready');
  assert.match(formatLine({ ...line, raw: JSON.stringify({ level: 50, time: 1, msg: 'x', error: 'a b' }) }), / error x error="a b"$/);
});

test('following prints the lines written after it started, a file that appears later, and a rotated file from its start', async () => {
  await withLogDir(async (dir) => {
    const path = join(dir, 'smtp-ingress.log');
    writeFileSync(path, record('2026-01-01T10:00:00.000Z', 'smtp-ingress', { msg: 'old' }));
    const seen: string[] = [];
    const stop = followLogs(dir, undefined, (line) => seen.push(`${line.source} ${JSON.parse(line.raw).msg}`), 20);
    try {
      appendFileSync(path, record('2026-01-01T10:00:01.000Z', 'smtp-ingress', { msg: 'new' }).slice(0, 10));
      await sleep(80);
      assert.deepEqual(seen, [], 'half a line is not a line');
      appendFileSync(path, record('2026-01-01T10:00:01.000Z', 'smtp-ingress', { msg: 'new' }).slice(10));
      writeFileSync(join(dir, 'pop3-access.log'), record('2026-01-01T10:00:02.000Z', 'pop3-access', { msg: 'started' }));
      await sleep(80);
      renameSync(path, `${path}.1`);
      writeFileSync(path, record('2026-01-01T10:00:03.000Z', 'smtp-ingress', { msg: 'after rotation' }));
      await sleep(80);
    } finally {
      stop();
    }
    assert.deepEqual(seen.sort(), ['pop3-access started', 'smtp-ingress after rotation', 'smtp-ingress new']);
  });
});
