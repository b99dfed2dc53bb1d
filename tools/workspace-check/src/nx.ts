// Runs the workspace's nx (no daemon, no cloud) the way CI does, for the checks and their tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WORKSPACE_ROOT, type NxGraphFile } from './boundaries.js';

export function nx(args: string[]): string {
  return execFileSync(join(WORKSPACE_ROOT, 'node_modules/.bin/nx'), args, {
    cwd: WORKSPACE_ROOT,
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The project graph, as `nx graph --file` writes it. */
export function projectGraph(): NxGraphFile {
  const dir = mkdtempSync(join(tmpdir(), 'nx-graph-'));
  try {
    nx(['graph', `--file=${join(dir, 'graph.json')}`]);
    return JSON.parse(readFileSync(join(dir, 'graph.json'), 'utf8')) as NxGraphFile;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
