// A small Dockerfile reader: instructions (continuation lines joined, comments dropped) grouped into
// stages, enough to check what each stage does and what the runtime image contains. A FROM that names a
// global ARG (`ARG BASE_IMAGE=node:20-bookworm-slim` before the first FROM) reads as its default: the
// build that deploy/README.md describes, without --build-arg.

export interface Instruction {
  keyword: string;
  /** The text after the keyword. */
  args: string;
}

export interface Stage {
  base: string;
  name: string | undefined;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push((current + line).trim());
    current = '';
  }
  if (current.trim()) logical.push(current.trim());
  const stages: Stage[] = [];
  const globalArgs = new Map<string, string>();
  const withArgs = (text: string) => text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => globalArgs.get((braced ?? bare)!) ?? whole);
  for (const line of logical) {
    const match = /^(\S+)\s*(.*)$/s.exec(line);
    if (!match) continue;
    const keyword = match[1]!.toUpperCase();
    const args = match[2]!.trim();
    if (keyword === 'ARG' && stages.length === 0) {
      const arg = /^(\w+)(?:=(\S*))?$/.exec(args);
      if (arg) globalArgs.set(arg[1]!, arg[2] ?? '');
    } else if (keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ base: withArgs(from?.[1] ?? args), name: from?.[2], instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`${keyword} before FROM`);
      stage.instructions.push({ keyword, args });
    }
  }
  return stages;
}

export interface Copy {
  from: string | undefined;
  sources: string[];
  destination: string;
}

/** COPY instructions of a stage: `--from=stage`, the source paths and the destination. */
export function copies(stage: Stage): Copy[] {
  return stage.instructions
    .filter((i) => i.keyword === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      return { from, sources: paths.slice(0, -1), destination: paths.at(-1)! };
    });
}

/** The ancestry of a stage: itself, then the stage it is built FROM, and so on. */
export function lineage(stages: Stage[], stage: Stage): Stage[] {
  const chain = [stage];
  let base = stages.find((s) => s.name === stage.base);
  while (base && !chain.includes(base)) {
    chain.push(base);
    base = stages.find((s) => s.name === base!.base);
  }
  return chain;
}

/** The exec-form command of a CMD or ENTRYPOINT, or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  try {
    const parsed = JSON.parse(args) as unknown;
    return Array.isArray(parsed) && parsed.every((p) => typeof p === 'string') ? parsed : undefined;
  } catch {
    return undefined;
  }
}
