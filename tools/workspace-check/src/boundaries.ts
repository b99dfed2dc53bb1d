// Module boundaries, checked against the projects' tags without eslint: nx's own rule
// (@nx/enforce-module-boundaries) comes in @nx/eslint-plugin, published at 23.x while the workspace runs
// nx 24, and runs inside eslint's TypeScript parser, which needs the TypeScript JS API that TypeScript 7
// (the native compiler) no longer has. So the nx project graph (`nx graph --file`) gives the projects,
// their tags and their declared edges, and a scan of every import statement finds the line to blame.
//
// Tags: each project has one `type:` (app, lib, tool, e2e) and at least one `scope:`. The rules:
//   - an app never imports another app (they talk over gRPC and NATS, through libs/contracts);
//   - a lib never imports an app, a tool or the end-to-end suites;
//   - production code never imports the test kit (scope:testing), `node:test` or a test-support module;
//   - an @mail/* import is declared in the importing package's package.json (npm workspaces hoist every
//     @mail/* package, so an undeclared one resolves anyway), production imports under `dependencies`;
//   - a project reaches another through its package name, never a relative path into it (the end-to-end
//     suites, nested in libs/testing and compiled with it, may reach their parent relatively).
//   - local tooling (scripts/, part of no project) never imports the test kit either.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';

export interface Project {
  name: string;
  /** Relative to the workspace root, with forward slashes. */
  root: string;
  tags: string[];
  dependencies: string[];
  devDependencies: string[];
}

export interface GraphEdge {
  source: string;
  target: string;
  /** nx's dependency type: static (imports, package.json), dynamic or implicit. */
  type: string;
}

export interface SourceFile {
  /** Relative to the workspace root. */
  path: string;
  text: string;
}

export interface Workspace {
  projects: Project[];
  edges: GraphEdge[];
  files: SourceFile[];
}

export interface ImportSite {
  file: string;
  line: number;
  specifier: string;
}

const IMPORT = /(?:^|[\n;])\s*(?:import|export)\s(?:[^'";]*?\sfrom\s*)?['"]([^'"\n]+)['"]|\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/g;

/** Every static import, re-export, side-effect import and literal dynamic import of a source text. */
export function importsOf(path: string, text: string): ImportSite[] {
  const sites: ImportSite[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2];
    const at = match.index + match[0].lastIndexOf(specifier);
    sites.push({ file: path, line: text.slice(0, at).split('\n').length, specifier });
  }
  return sites;
}

/** Test code: test files, test-support modules, and anything in a src/testing folder. Never shipped. */
export function isTestCode(path: string): boolean {
  return /\.test(-support)?\.(ts|mts|js|mjs)$/.test(path) || /\/src\/testing\//.test(path);
}

/** The scripts of the local run and of setup, which belong to no project. */
const LOCAL_TOOLING = 'scripts';
const isLocalTooling = (path: string): boolean => path.startsWith(`${LOCAL_TOOLING}/`);

const typeOf = (p: Project): string | undefined => p.tags.find((t) => t.startsWith('type:'))?.slice(5);

/** The project a workspace path belongs to: the one with the deepest root containing it (nx's rule). */
export function ownerOf(projects: Project[], path: string): Project | undefined {
  let best: Project | undefined;
  for (const p of projects) {
    if ((path === p.root || path.startsWith(p.root + '/')) && (!best || p.root.length > best.root.length)) best = p;
  }
  return best;
}

/** What a specifier reaches: a workspace project, `node:test`, a test-support module, or nothing of ours. */
function targetOf(ws: Workspace, site: ImportSite): { project?: Project; relative: boolean } {
  if (site.specifier.startsWith('.')) {
    const path = join(dirname(site.file), site.specifier).split(sep).join('/');
    return { project: ownerOf(ws.projects, path), relative: true };
  }
  const name = site.specifier.split('/').slice(0, site.specifier.startsWith('@') ? 2 : 1).join('/');
  return { project: ws.projects.find((p) => p.name === name), relative: false };
}

/** Every broken rule, each naming the import (file:line and specifier) or the graph edge that breaks it. */
export function findViolations(ws: Workspace, only?: string): string[] {
  const violations: string[] = [];
  const byName = new Map(ws.projects.map((p) => [p.name, p]));
  for (const p of ws.projects) {
    if (only && p.name !== only) continue;
    const types = p.tags.filter((t) => t.startsWith('type:'));
    if (types.length !== 1 || !['app', 'lib', 'tool', 'e2e'].includes(typeOf(p) ?? '')) violations.push(`${p.root}/project.json: ${p.name} needs exactly one tag type:app|lib|tool|e2e (has ${types.join(', ') || 'none'})`);
    if (!p.tags.some((t) => t.startsWith('scope:'))) violations.push(`${p.root}/project.json: ${p.name} needs a scope:* tag`);
  }

  const explained = new Set<string>();
  for (const file of ws.files) {
    const source = ownerOf(ws.projects, file.path);
    if (!source && !only && isLocalTooling(file.path)) {
      for (const site of importsOf(file.path, file.text)) {
        const target = targetOf(ws, site).project;
        if (target?.tags.includes('scope:testing')) violations.push(`${site.file}:${site.line} imports '${site.specifier}': local tooling never imports the test kit (${target.name}); what it needs belongs in a lib (libs/launcher)`);
      }
    }
    if (!source || (only && source.name !== only)) continue;
    const production = !isTestCode(file.path) && !source.tags.includes('scope:testing');
    for (const site of importsOf(file.path, file.text)) {
      const where = `${site.file}:${site.line} imports '${site.specifier}'`;
      if (production && site.specifier === 'node:test') violations.push(`${where}: production code never imports the test runner (name the file *.test-support.ts)`);
      if (production && site.specifier.startsWith('.') && isTestCode(join(dirname(file.path), site.specifier))) violations.push(`${where}: production code never imports test code`);
      const { project: target, relative: isRelative } = targetOf(ws, site);
      if (!target || target === source) continue;
      explained.add(`${source.name}>${target.name}`);
      const [from, to] = [typeOf(source), typeOf(target)];
      if (isRelative && !source.root.startsWith(target.root + '/')) violations.push(`${where}: reach ${target.name} through its package name, not a relative path into ${target.root}`);
      if (from === 'app' && to === 'app') violations.push(`${where}: an app (${source.name}) never imports another app (${target.name}); they talk over gRPC and NATS`);
      if (from === 'lib' && to !== 'lib') violations.push(`${where}: a lib (${source.name}) never imports a ${to} (${target.name})`);
      if (production && target.tags.includes('scope:testing')) violations.push(`${where}: production code never imports the test kit (${target.name}); only *.test.ts and *.test-support.ts files may`);
      if (!isRelative) {
        const declared = production ? source.dependencies : [...source.dependencies, ...source.devDependencies];
        if (!declared.includes(target.name)) violations.push(`${where}: ${target.name} is not in ${source.root}/package.json ${production ? 'dependencies' : 'dependencies or devDependencies'} (npm workspaces would resolve it anyway)`);
      }
    }
  }

  // Graph edges no import explains: package.json dependencies and implicit dependencies.
  for (const edge of ws.edges) {
    const [source, target] = [byName.get(edge.source), byName.get(edge.target)];
    if (!source || !target || (only && source.name !== only) || explained.has(`${source.name}>${target.name}`)) continue;
    const where = `${source.root}: nx graph edge ${source.name} → ${target.name} (${edge.type}${source.dependencies.includes(target.name) ? ', package.json dependencies' : ''})`;
    const [from, to] = [typeOf(source), typeOf(target)];
    if (from === 'app' && to === 'app') violations.push(`${where}: an app never depends on another app`);
    if (from === 'lib' && to !== 'lib') violations.push(`${where}: a lib never depends on a ${to}`);
    if (source.dependencies.includes(target.name) && target.tags.includes('scope:testing') && !source.tags.includes('scope:testing')) violations.push(`${where}: the test kit belongs in devDependencies`);
  }
  return violations;
}

function walk(root: string, dir: string, out: SourceFile[]): void {
  for (const name of readdirSync(join(root, dir))) {
    if (name === 'node_modules' || name === 'dist' || name === 'gen' || name.startsWith('.')) continue;
    const path = dir ? `${dir}/${name}` : name;
    if (statSync(join(root, path)).isDirectory()) walk(root, path, out);
    else if (/\.(ts|mts|mjs|js)$/.test(name) && !name.endsWith('.d.ts')) out.push({ path, text: readFileSync(join(root, path), 'utf8') });
  }
}

export interface NxGraphFile {
  graph: {
    nodes: Record<string, { data: { root: string; tags?: string[] } }>;
    dependencies: Record<string, GraphEdge[]>;
  };
}

/** The workspace as nx sees it (from `nx graph --file`), with each project's sources. */
export function loadWorkspace(root: string, graph: NxGraphFile): Workspace {
  const projects: Project[] = Object.entries(graph.graph.nodes).map(([name, node]) => {
    // A project without a package.json (the end-to-end suites, compiled with libs/testing) is declared
    // by the package it sits in.
    let pkg: { dependencies?: Record<string, string>; devDependencies?: Record<string, string> } = {};
    for (let dir = node.data.root; dir !== '.'; dir = dirname(dir)) {
      try {
        pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
        break;
      } catch {
        // not here: the folder above
      }
    }
    return {
      name,
      root: node.data.root,
      tags: (node.data.tags ?? []).filter((t) => !t.startsWith('npm:')),
      dependencies: Object.keys(pkg.dependencies ?? {}),
      devDependencies: Object.keys(pkg.devDependencies ?? {}),
    };
  });
  const files: SourceFile[] = [];
  for (const p of projects) walk(root, p.root, files);
  walk(root, LOCAL_TOOLING, files);
  const unique = [...new Map(files.map((f) => [f.path, f])).values()];
  const edges = Object.values(graph.graph.dependencies).flat();
  return { projects, edges, files: unique };
}

export const WORKSPACE_ROOT = resolve(new URL('../../..', import.meta.url).pathname);
