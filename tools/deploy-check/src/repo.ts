// Where things are: the repository root, deploy/, and the external tools the checks run (kubectl or
// kustomize, promtool). A missing tool is reported as a skip reason, never as a failure.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const deployDir = join(repoRoot, 'deploy');
export const k8sDir = join(deployDir, 'k8s');
export const observabilityDir = join(deployDir, 'observability');

export const SERVICES = ['smtp-ingress', 'queue-manager', 'delivery-agent', 'mailbox-store', 'pop3-access'] as const;
export type ServiceName = (typeof SERVICES)[number];

export const OVERLAYS = ['dev', 'production'] as const;
export type OverlayName = (typeof OVERLAYS)[number];

const SETUP_HINT = 'run scripts/setup.sh --test-tools';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable called `name` on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export interface Kustomizer {
  /** Command and arguments that render a kustomization directory (the directory is appended). */
  command: string;
  args: string[];
  description: string;
}

/**
 * kubectl's built-in kustomize when kubectl is there and answers, else a standalone kustomize on PATH or
 * in .tools/ (scripts/setup.sh --test-tools builds it with `go install` when kubectl is missing).
 */
export function findKustomizer(): Kustomizer | undefined {
  const kubectl = which('kubectl');
  if (kubectl && spawnSync(kubectl, ['kustomize', '--help'], { encoding: 'utf8', timeout: 20_000 }).status === 0) {
    return { command: kubectl, args: ['kustomize'], description: `${kubectl} kustomize` };
  }
  for (const candidate of [join(repoRoot, '.tools', 'kustomize'), which('kustomize')]) {
    if (candidate && executable(candidate)) return { command: candidate, args: ['build'], description: `${candidate} build` };
  }
  return undefined;
}

export const kustomizer = findKustomizer();
export const kustomizeSkip: string | false = kustomizer ? false : `neither kubectl nor kustomize found: ${SETUP_HINT}`;

export const promtool = which('promtool');
export const promtoolSkip: string | false = promtool ? false : `promtool not found (Debian package prometheus): ${SETUP_HINT}`;

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], cwd = repoRoot): RunResult {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
