// The module boundaries of the workspace (boundaries.ts says why they are checked here and not by eslint),
// and the nx graph edges that caching and `nx affected` rely on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findViolations, importsOf, isTestCode, loadWorkspace, WORKSPACE_ROOT, type Project, type Workspace } from './boundaries.js';
import { nx, projectGraph } from './nx.js';

const APPS = ['@mail/smtp-ingress', '@mail/queue-manager', '@mail/delivery-agent', '@mail/mailbox-store', '@mail/pop3-access'];

test('the workspace keeps its module boundaries', () => {
  const violations = findViolations(loadWorkspace(WORKSPACE_ROOT, projectGraph()));
  assert.deepEqual(violations, [], `module boundary violations:\n${violations.join('\n')}`);
});

const project = (name: string, root: string, tags: string[], dependencies: string[] = [], devDependencies: string[] = []): Project => ({ name, root, tags, dependencies, devDependencies });
const broken: Workspace = {
  projects: [
    project('@mail/a', 'apps/a', ['type:app', 'scope:a'], ['@mail/lib']),
    project('@mail/b', 'apps/b', ['type:app', 'scope:b']),
    project('@mail/lib', 'libs/lib', ['type:lib', 'scope:shared']),
    project('@mail/testing', 'libs/testing', ['type:lib', 'scope:testing']),
    project('@mail/untagged', 'libs/untagged', ['scope:x']),
  ],
  edges: [{ source: '@mail/lib', target: '@mail/b', type: 'implicit' }],
  files: [
    { path: 'apps/a/src/main.ts', text: "import { x } from '@mail/lib';\nimport { y } from '@mail/b';\n" },
    { path: 'apps/a/src/wiring.ts', text: "// comment\nimport { startMailSystem } from '@mail/testing';\nexport * from '../../b/src/server.js';\n" },
    { path: 'apps/a/src/main.test.ts', text: "import { test } from 'node:test';\nimport { startMailSystem } from '@mail/testing';\n" },
    { path: 'apps/a/src/store.ts', text: "import { describe } from 'node:test';\nimport { defineSuite } from './suite.test-support.js';\n" },
    { path: 'libs/lib/src/index.ts', text: "export { z } from '@mail/a';\nconst later = await import('@mail/lib');\n" },
    { path: 'scripts/observe.mjs', text: "import { launch } from '@mail/lib';\nimport { startPrometheus } from '@mail/testing';\n" },
  ],
};

test('each broken rule is reported with the file, line and import to blame', () => {
  assert.deepEqual(findViolations(broken), [
    'libs/untagged/project.json: @mail/untagged needs exactly one tag type:app|lib|tool|e2e (has none)',
    "apps/a/src/main.ts:2 imports '@mail/b': an app (@mail/a) never imports another app (@mail/b); they talk over gRPC and NATS",
    "apps/a/src/main.ts:2 imports '@mail/b': @mail/b is not in apps/a/package.json dependencies (npm workspaces would resolve it anyway)",
    "apps/a/src/wiring.ts:2 imports '@mail/testing': production code never imports the test kit (@mail/testing); only *.test.ts and *.test-support.ts files may",
    "apps/a/src/wiring.ts:2 imports '@mail/testing': @mail/testing is not in apps/a/package.json dependencies (npm workspaces would resolve it anyway)",
    "apps/a/src/wiring.ts:3 imports '../../b/src/server.js': reach @mail/b through its package name, not a relative path into apps/b",
    "apps/a/src/wiring.ts:3 imports '../../b/src/server.js': an app (@mail/a) never imports another app (@mail/b); they talk over gRPC and NATS",
    "apps/a/src/main.test.ts:2 imports '@mail/testing': @mail/testing is not in apps/a/package.json dependencies or devDependencies (npm workspaces would resolve it anyway)",
    "apps/a/src/store.ts:1 imports 'node:test': production code never imports the test runner (name the file *.test-support.ts)",
    "apps/a/src/store.ts:2 imports './suite.test-support.js': production code never imports test code",
    "libs/lib/src/index.ts:1 imports '@mail/a': a lib (@mail/lib) never imports a app (@mail/a)",
    "libs/lib/src/index.ts:1 imports '@mail/a': @mail/a is not in libs/lib/package.json dependencies (npm workspaces would resolve it anyway)",
    "scripts/observe.mjs:2 imports '@mail/testing': local tooling never imports the test kit (@mail/testing); what it needs belongs in a lib (libs/launcher)",
    'libs/lib: nx graph edge @mail/lib → @mail/b (implicit): a lib never depends on a app',
  ]);
  assert.deepEqual(findViolations(broken, '@mail/lib').length, 3, 'one project at a time (the nx lint target)');
});

test('imports are found in every form, with their line', () => {
  const text = "import a from 'x';\nimport type { B } from \"y\";\nexport { c } from './c.js';\nimport './side-effect.js';\nconst d = await import('d');\nimport {\n  e,\n} from 'e';\n// from 'not-an-import'\n";
  assert.deepEqual(
    importsOf('f.ts', text).map((s) => `${s.line} ${s.specifier}`),
    ['1 x', '2 y', '3 ./c.js', '4 ./side-effect.js', '5 d', '8 e'],
  );
  assert.ok(isTestCode('apps/x/src/a.test.ts') && isTestCode('apps/x/src/store/s.test-support.ts') && isTestCode('libs/mime/src/testing/oracle.ts'));
  assert.ok(!isTestCode('apps/x/src/testimony.ts') && !isTestCode('apps/x/src/latest.ts'));
});

test('a .proto change affects contracts, every gRPC consumer and the end-to-end suites', () => {
  const affected = nx(['show', 'projects', '--affected', '--files=proto/mail/v1/mailbox.proto', '--json']);
  const names = JSON.parse(affected) as string[];
  for (const name of ['@mail/contracts', ...APPS, '@mail/mailctl', '@mail/e2e']) assert.ok(names.includes(name), `${name} is not affected by a .proto change: ${names.join(', ')}`);
  assert.ok(!names.includes('@mail/mime'), 'libs/mime does not use the contracts');
});

test('code generation is a cached nx target on proto/, and builds wait for it', () => {
  const contracts = JSON.parse(nx(['show', 'project', '@mail/contracts', '--json'])) as { targets: Record<string, { inputs?: unknown[]; outputs?: string[]; dependsOn?: unknown[]; cache?: boolean }> };
  const gen = contracts.targets.gen!;
  assert.equal(gen.cache, true);
  assert.deepEqual(gen.outputs, ['{projectRoot}/src/gen']);
  assert.ok(gen.inputs?.includes('proto'));
  assert.deepEqual(contracts.targets.build!.dependsOn, ['gen', '^build']);
  const e2e = JSON.parse(nx(['show', 'project', '@mail/e2e', '--json'])) as { implicitDependencies: string[] };
  for (const app of APPS) assert.ok(e2e.implicitDependencies.includes(app), `the end-to-end suites run ${app}`);
});
