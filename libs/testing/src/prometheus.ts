// The live alert tests' Prometheus rules: the shipped ones firing sooner. Prometheus itself is the
// launcher's (libs/launcher/src/prometheus.ts), which the local run uses too.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SHIPPED_RULES } from '@mail/launcher';

/** The shipped rules with every `for:` set to `forDuration`: the same expressions, firing sooner (tests). */
export async function rulesWithShortFor(dir: string, forDuration: string): Promise<string> {
  const path = join(dir, 'mail-alerts.short-for.rules.yml');
  await writeFile(path, (await readFile(SHIPPED_RULES, 'utf8')).replace(/^(\s+for:) .+$/gm, `$1 ${forDuration}`));
  return path;
}
