// The five service Dockerfiles, read without a Docker engine: multi-stage, a runtime stage with only
// production dependencies, the built dist folders the service needs, a non-root user, NODE_ENV, and the
// EXPOSE and CMD that match the manifests and the build output.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SERVICE_NODE_FLAGS } from '@mail/launcher';
import { copies, execForm, lineage, parseDockerfile, type Stage } from './dockerfile.js';
import { podTemplates, render } from './manifests.js';
import { k8sDir, kustomizeSkip, repoRoot, SERVICES } from './repo.js';

const read = (path: string): string => readFileSync(join(repoRoot, path), 'utf8');
const stagesOf = (service: string): Stage[] => parseDockerfile(read(`apps/${service}/Dockerfile`));
const runs = (stage: Stage): string[] => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);

/** Every .ts file under a directory, test code (tests, test-support modules) excluded. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (entry.endsWith('.ts') && !/\.test(-support)?\.ts$/.test(entry)) out.push(path);
  }
  return out;
}

/** The workspace packages (libs/x, apps/x) a package needs at run time: declared or imported, transitively. */
function workspaceClosure(packageDir: string, seen = new Set<string>()): Set<string> {
  if (seen.has(packageDir)) return seen;
  seen.add(packageDir);
  const manifest = JSON.parse(read(`${packageDir}/package.json`)) as { dependencies?: Record<string, string> };
  const names = new Set(Object.keys(manifest.dependencies ?? {}).filter((n) => n.startsWith('@mail/')));
  for (const file of sources(join(repoRoot, packageDir, 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(/from '(@mail\/[a-z-]+)/g)) names.add(match[1]!);
  }
  for (const name of names) {
    const dir = [`libs/${name.slice(6)}`, `apps/${name.slice(6)}`].find((d) => existsSync(join(repoRoot, d, 'package.json')));
    assert.ok(dir, `${packageDir} needs ${name}, a workspace package`);
    workspaceClosure(dir, seen);
  }
  return seen;
}

const NPM_INSTALL = /\bnpm\s+(ci|install|i)\b/;
const OMITS_DEV = /--omit=dev|--production\b/;

test('.dockerignore keeps node_modules, build output and the git history out of the build context', () => {
  const patterns = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const needed of ['.git', '**/node_modules', '**/dist']) assert.ok(patterns.includes(needed), needed);
});

test('the five Dockerfiles share one build stage, so the monorepo is built once', () => {
  const builds = SERVICES.map((service) => JSON.stringify(stagesOf(service)[0]));
  for (const build of builds) assert.equal(build, builds[0]);
});

for (const service of SERVICES) {
  describe(`apps/${service}/Dockerfile`, () => {
    const stages = stagesOf(service);
    const runtime = stages.at(-1)!;

    test('is multi-stage: the build stage runs npm ci and npm run build from node 20', () => {
      assert.ok(stages.length >= 2, 'at least two stages');
      const build = stages[0]!;
      assert.match(build.base, /^node:20[.\w-]*$/);
      assert.ok(runs(build).some((r) => /\bnpm ci\b/.test(r)), 'npm ci');
      assert.ok(runs(build).some((r) => /\bnpm run build\b/.test(r)), 'npm run build');
      for (const copy of copies(build)) {
        for (const source of copy.sources) assert.ok(existsSync(join(repoRoot, source)), `COPY ${source} exists in the repository`);
      }
    });

    test('the runtime stage is a fresh node 20 slim image with NODE_ENV=production and a numeric non-root USER', () => {
      assert.match(runtime.base, /^node:20[.\w-]*-slim$/);
      assert.ok(!stages.slice(0, -1).some((s) => s.name === runtime.base), 'not built on top of the build stage');
      assert.ok(
        runtime.instructions.some((i) => i.keyword === 'ENV' && /^NODE_ENV[= ]production$/.test(i.args)),
        'ENV NODE_ENV=production',
      );
      const user = runtime.instructions.filter((i) => i.keyword === 'USER').at(-1);
      assert.ok(user, 'a USER');
      const [uid, gid] = user.args.split(':');
      assert.match(uid!, /^\d+$/, 'numeric, so that runAsNonRoot can verify it');
      assert.notEqual(Number(uid), 0);
      if (gid !== undefined) assert.notEqual(Number(gid), 0);
    });

    test('the runtime stage has production dependencies only', () => {
      for (const command of runs(runtime)) {
        if (NPM_INSTALL.test(command)) assert.match(command, OMITS_DEV, `RUN ${command}`);
      }
      const modules = copies(runtime).filter((c) => c.sources.some((s) => /node_modules\/?$/.test(s)));
      assert.ok(modules.length > 0 || runs(runtime).some((r) => NPM_INSTALL.test(r)), 'node_modules comes from somewhere');
      for (const copy of modules) {
        const source = stages.find((s) => s.name === copy.from);
        assert.ok(source, `node_modules is copied from a stage (${copy.from})`);
        const commands = lineage(stages, source).reverse().flatMap(runs);
        const lastInstall = commands.map((c) => /\bnpm\s+(ci|install|i|prune)\b/.test(c)).lastIndexOf(true);
        assert.ok(lastInstall >= 0 && OMITS_DEV.test(commands[lastInstall]!), `stage ${copy.from} prunes dev dependencies last`);
      }
      for (const copy of copies(runtime)) {
        for (const source of copy.sources) {
          assert.ok(!/(^|\/)(src|tools)(\/|$)/.test(source.replace(/^\/src\//, '')), `no sources or tools in the image: ${source}`);
        }
      }
    });

    test('the runtime stage holds the dist folder of the service and of every workspace package it needs', () => {
      const copied = new Set(copies(runtime).map((c) => c.destination.replace(/\/$/, '')));
      for (const dir of workspaceClosure(`apps/${service}`)) {
        assert.ok(copied.has(`${dir}/dist`), `${dir}/dist`);
        assert.ok(copied.has(dir), `${dir}/package.json (its exports point into dist)`);
      }
    });

    test('BASE_IMAGE and WORKSPACE build args: the node base, and a prebuilt stage (scripts/images.sh) that copies only the prepared workspace', () => {
      const text = read(`apps/${service}/Dockerfile`);
      assert.match(text, /^ARG BASE_IMAGE=node:20-bookworm-slim$/m, 'production builds default to the public image');
      assert.match(text, /^ARG WORKSPACE=production-deps$/m, 'and to building from sources');
      const prebuilt = stages.find((s) => s.name === 'prebuilt');
      assert.ok(prebuilt, 'a prebuilt stage');
      assert.equal(prebuilt.base, 'scratch');
      assert.deepEqual(prebuilt.instructions, [{ keyword: 'COPY', args: 'workspace /src' }]);
      assert.ok(copies(runtime).every((c) => c.from === 'workspace' || c.from === undefined), 'the runtime copies from the chosen workspace');
      assert.ok(!/npmrc|NPM_TOKEN|_authToken/i.test(text), 'no npm configuration or token in the build');
    });

    test('CMD runs the built main.js, which exists after npm run build', () => {
      const cmd = runtime.instructions.filter((i) => i.keyword === 'CMD').at(-1);
      assert.ok(cmd, 'a CMD');
      const argv = execForm(cmd.args);
      assert.ok(argv, 'exec form, so node is PID 1 and receives SIGTERM');
      assert.equal(argv[0], 'node');
      assert.equal(argv.at(-1), `apps/${service}/dist/main.js`);
      // The same Node flags as the local run gives the service (SERVICE_NODE_FLAGS), source maps aside.
      assert.deepEqual(
        argv.slice(1, -1).filter((flag) => flag !== '--enable-source-maps'),
        [...SERVICE_NODE_FLAGS[service as keyof typeof SERVICE_NODE_FLAGS]],
        'the Node flags of the launcher',
      );
      assert.ok(existsSync(join(repoRoot, 'apps', service, 'dist', 'main.js')), 'built by npm run build');
    });

    test('EXPOSE lists exactly the container ports of the Deployment', { skip: kustomizeSkip }, () => {
      const exposed = runtime.instructions
        .filter((i) => i.keyword === 'EXPOSE')
        .flatMap((i) => i.args.split(/\s+/))
        .map((p) => Number(p.split('/')[0]))
        .sort();
      const pod = podTemplates(render(join(k8sDir, 'base'))).find((p) => p.owner.kind === 'Deployment' && p.owner.metadata.name === service);
      assert.ok(pod);
      const ports = pod.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)).sort();
      assert.deepEqual(exposed, ports);
    });
  });
}
