// The local run's log files (<dir>/<service>.log, rotated to .log.1, .log.2 …) read back as one stream:
// every service's lines merged by time, filtered by service or by queue id, formatted for a person, and
// followed as they grow. Reading only; the local run writes them (libs/testing/src/log-file.ts).
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface LogLine {
  /** The file's name without .log: the service (or nats-server). */
  source: string;
  /** From the line's JSON `time`; a line without one takes the time of the line before it. */
  time: number;
  raw: string;
}

const LOG_FILE = /^(.+)\.log(?:\.(\d+))?$/;

/** The log files in `dir` by source, oldest first (.log.3, .log.2, .log.1, then .log). */
export function logFiles(dir: string, source?: string): Map<string, string[]> {
  const found = new Map<string, Array<{ path: string; age: number }>>();
  for (const name of readdirSync(dir)) {
    const match = LOG_FILE.exec(name);
    if (!match || (source && match[1] !== source)) continue;
    const list = found.get(match[1]!) ?? [];
    list.push({ path: join(dir, name), age: Number(match[2] ?? 0) });
    found.set(match[1]!, list);
  }
  return new Map([...found].sort(([a], [b]) => a.localeCompare(b)).map(([name, files]) => [name, files.sort((a, b) => b.age - a.age).map((f) => f.path)]));
}

function timeOf(raw: string): number | undefined {
  if (!raw.startsWith('{')) return undefined;
  try {
    const time = (JSON.parse(raw) as { time?: unknown }).time;
    const ms = typeof time === 'number' ? time : typeof time === 'string' ? Date.parse(time) : NaN;
    return Number.isNaN(ms) ? undefined : ms;
  } catch {
    return undefined;
  }
}

/** Lines of one source's text; `previous` is the time a leading line without its own takes. */
export function parseLines(source: string, text: string, previous = 0): LogLine[] {
  const lines: LogLine[] = [];
  let time = previous;
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    time = timeOf(raw) ?? time;
    lines.push({ source, time, raw });
  }
  return lines;
}

/** Every line of every source's files, merged by time (stable: a source's own order is kept). */
export function readLogLines(dir: string, source?: string): LogLine[] {
  const all: LogLine[] = [];
  for (const [name, paths] of logFiles(dir, source)) {
    let previous = 0;
    for (const path of paths) {
      const lines = parseLines(name, readFileSync(path, 'utf8'), previous);
      previous = lines.at(-1)?.time ?? previous;
      all.push(...lines);
    }
  }
  return all.sort((a, b) => a.time - b.time);
}

/** The line mentions the queue id (as grep would find it). */
export const mentions = (line: LogLine, queueId: string): boolean => line.raw.includes(queueId);

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const SHOWN_ELSEWHERE = new Set(['time', 'level', 'service', 'msg', 'pid', 'hostname', 'event']);

/** One line for a person: time, source, level, message and event, then the other fields as key=value. */
export function formatLine(line: LogLine): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line.raw) as Record<string, unknown>;
    if (typeof record !== 'object' || record === null) throw new Error('not an object');
  } catch {
    return `${line.source}: ${line.raw}`;
  }
  const fields = Object.entries(record)
    .filter(([key]) => !SHOWN_ELSEWHERE.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? (/[\s"=]/.test(value) ? JSON.stringify(value) : value) : JSON.stringify(value)}`);
  const level = LEVELS[record.level as number] ?? String(record.level ?? '');
  const event = typeof record.event === 'string' ? ` [${record.event}]` : '';
  return [new Date(line.time).toISOString(), line.source, level, `${String(record.msg ?? '')}${event}`, ...fields].join(' ');
}

/**
 * Follows the current files of `dir` (one source, or all, including files that appear later) from their
 * present end, calling `emit` with each complete new line; a file that was replaced (rotated) or shrank is
 * read from its start. Returns a function that stops following.
 */
export function followLogs(dir: string, source: string | undefined, emit: (line: LogLine) => void, intervalMs = 250): () => void {
  const followed = new Map<string, { offset: number; partial: string; time: number; inode: number }>();
  const current = () => [...logFiles(dir, source)].map(([name, paths]) => ({ name, path: paths.at(-1)! })).filter(({ path }) => !/\.\d+$/.test(path));
  for (const { path } of current()) {
    const stat = statSync(path);
    followed.set(path, { offset: stat.size, partial: '', time: 0, inode: stat.ino });
  }
  const poll = () => {
    let files: Array<{ name: string; path: string }>;
    try {
      files = current();
    } catch {
      return; // the directory is gone for now
    }
    for (const { name, path } of files) {
      try {
        readNew(name, path);
      } catch {
        // renamed away between the listing and the read: the next poll finds the new file
      }
    }
  };
  const readNew = (name: string, path: string) => {
    const { size, ino } = statSync(path);
    const state = followed.get(path) ?? { offset: 0, partial: '', time: 0, inode: ino };
    followed.set(path, state);
    if (size < state.offset || ino !== state.inode) Object.assign(state, { offset: 0, partial: '', inode: ino });
    if (size === state.offset) return;
    const bytes = Buffer.alloc(size - state.offset);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, bytes, 0, bytes.length, state.offset);
    } finally {
      closeSync(fd);
    }
    state.offset = size;
    const text = state.partial + bytes.toString('utf8');
    const end = text.lastIndexOf('\n');
    state.partial = text.slice(end + 1);
    const lines = parseLines(name, text.slice(0, end + 1), state.time);
    state.time = lines.at(-1)?.time ?? state.time;
    for (const line of lines) emit(line);
  };
  const timer = setInterval(poll, intervalMs);
  return () => clearInterval(timer);
}
