// Peer servers from npm for the benchmarks (Haraka, smtp-server): each installed once into a cache folder
// of its own outside the workspace, so the workspace's dependencies stay ours.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Installs `spec` (as npm takes it, `Haraka@3.3.4`) into `cache` unless `installed` is already there. */
export function installPeerOnce(cache, installed, spec, purpose) {
  if (existsSync(installed)) return;
  console.log(`installing ${spec} from npm into ${cache} (${purpose})`);
  mkdirSync(cache, { recursive: true });
  writeFileSync(join(cache, 'package.json'), JSON.stringify({ name: 'bench-peer', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--omit=dev', spec], { cwd: cache, stdio: 'inherit' });
}
