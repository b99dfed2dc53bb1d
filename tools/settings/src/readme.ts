// The README's settings tables, written from the manifest between two marker lines; what lies outside
// the markers is the README's own prose.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { settingGroups, type SettingInfo } from './manifest.js';

export const README = fileURLToPath(new URL('../../../README.md', import.meta.url));
export const BEGIN = '<!-- settings: written by `npm run docs:settings` from the services\' config.ts; edit them there -->';
export const END = '<!-- end of settings -->';

const cell = (text: string): string => text.replaceAll('|', '\\|');
const row = (s: SettingInfo): string => `| \`${s.variable}\` | ${s.default === '' ? '—' : cell(`\`${s.default}\``)} | ${cell(s.description)} |`;

/** The tables: one per group of settings, a row per variable. */
export function renderSettings(groups = settingGroups()): string {
  const parts = groups.map((group) => [`#### ${group.title}`, '', '| variable | default | meaning |', '|---|---|---|', ...group.settings.map(row)].join('\n'));
  return parts.join('\n\n');
}

/** The README's text between the markers. */
export function generatedPart(readme: string): string {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`README.md has no settings section (the lines ${BEGIN} and ${END})`);
  return readme.slice(begin + BEGIN.length, end).trim();
}

/** The README with its settings section written anew. */
export function withSettings(readme: string, tables = renderSettings()): string {
  generatedPart(readme);
  return `${readme.slice(0, readme.indexOf(BEGIN) + BEGIN.length)}\n\n${tables}\n\n${readme.slice(readme.indexOf(END))}`;
}

/** The variables whose README row differs from the manifest, one line each; empty when they agree. */
export function differences(readme: string, tables = renderSettings()): string[] {
  const rowsOf = (text: string) => new Map([...text.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|.*$/gm)].map((m) => [`${m[1]}`, m[0]]));
  const written = rowsOf(generatedPart(readme));
  const wanted = rowsOf(tables);
  const problems: string[] = [];
  for (const [variable, line] of wanted) {
    const found = written.get(variable);
    if (found === undefined) problems.push(`${variable}: missing from README.md`);
    else if (found !== line) problems.push(`${variable}: README.md says\n    ${found}\n  the manifest says\n    ${line}`);
  }
  for (const variable of written.keys()) if (!wanted.has(variable)) problems.push(`${variable}: in README.md, but no service reads it`);
  if (problems.length === 0 && generatedPart(readme) !== tables.trim()) problems.push('the tables differ in their headings or order');
  return problems;
}

export const readReadme = (): string => readFileSync(README, 'utf8');
export const writeReadme = (text: string): void => writeFileSync(README, text);
