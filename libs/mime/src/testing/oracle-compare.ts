// Corpus comparison against the mime-oracle records (Python's `email` package): normalises
// the oracle's view (see ../../../../shared/corpus/mime-oracle/README.md) and scores a
// parser's view of the same message on structure, content types, filenames and payloads.

import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface OraclePart {
  path: string;
  kind: 'multipart' | 'message' | 'leaf';
  content_type: string;
  filename: string | null;
  payload_sha256?: string | null;
  payload_sha256_lenient?: string | null;
  python_parsed_as_message?: boolean;
  python_structure?: string;
  parent: string | null;
}

export interface OracleRecord {
  file: string;
  parts: OraclePart[];
  quirks: { path: string; quirk: string }[];
  defects: { path: string; defect: string }[];
}

/** One entity as a parser reports it, in depth-first order. */
export interface ViewPart {
  path: string;
  kind: 'multipart' | 'message' | 'leaf';
  contentType: string;
  filename: string | null;
  sha256: string | null;
}

/** Files (leaves with a filename) as any parser can report them: name and content hash. */
export interface FileView {
  filename: string;
  sha256: string;
}

export const CORPUS_DIR = fileURLToPath(new URL('../../../../../shared/corpus/mime/', import.meta.url));
export const ORACLE_DIR = fileURLToPath(new URL('../../../../../shared/corpus/mime-oracle/', import.meta.url));

export function corpusAvailable(): boolean {
  return existsSync(CORPUS_DIR) && existsSync(ORACLE_DIR);
}

/** Relative paths of every message in the corpus (those with an oracle record). */
export function listCorpus(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith('.json')) out.push(relative(ORACLE_DIR, full).slice(0, -5));
    }
  };
  walk(ORACLE_DIR);
  return out;
}

export function readMessage(file: string): Buffer {
  return readFileSync(join(CORPUS_DIR, file));
}

export function readOracle(file: string): OracleRecord {
  return JSON.parse(readFileSync(join(ORACLE_DIR, file + '.json'), 'utf8')) as OracleRecord;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The oracle's parts as we compare them: message/* types other than rfc822/global that Python
 * parsed as embedded messages count as one leaf (their subtree is dropped), as the README says.
 */
export function oracleView(record: OracleRecord): ViewPart[] {
  const out: ViewPart[] = [];
  const dropped = new Set<string>();
  for (const p of record.parts) {
    if (p.parent !== null && dropped.has(p.parent)) {
      dropped.add(p.path);
      continue;
    }
    let kind = p.kind;
    if (kind === 'message' && p.content_type !== 'message/rfc822' && p.content_type !== 'message/global') {
      kind = 'leaf';
      dropped.add(p.path);
    }
    out.push({ path: kind === 'leaf' && p.kind === 'message' ? p.path : p.path, kind, contentType: p.content_type, filename: p.filename, sha256: kind === 'leaf' ? (p.payload_sha256 ?? null) : null });
  }
  return out;
}

export function oracleFiles(view: ViewPart[]): FileView[] {
  // message/* leaves (external-body, delivery-status…) have no payload hash in the oracle
  return view.filter((p) => p.kind === 'leaf' && p.filename && p.sha256 && !p.contentType.startsWith('message/')).map((p) => ({ filename: p.filename!, sha256: p.sha256! }));
}

export interface Agreement {
  /** Same number of leaves. */
  leafCount: boolean;
  /** Same entities (path and kind) in the same order. */
  structure: boolean;
  /** Same content type for every entity (requires equal structure). */
  contentTypes: boolean;
  /** Same filenames on every leaf. */
  filenames: boolean;
  /** Same decoded payload hash on every leaf the oracle hashed. */
  payloads: boolean;
  /** Same multiset of (filename, content hash) for files. */
  files: boolean;
}

export const MEASURES: (keyof Agreement)[] = ['leafCount', 'structure', 'contentTypes', 'filenames', 'payloads', 'files'];

function multisetEqual(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const x = [...a].sort();
  const y = [...b].sort();
  return x.every((v, i) => v === y[i]);
}

export function compareFiles(oracle: FileView[], ours: FileView[]): boolean {
  return multisetEqual(
    oracle.map((f) => f.sha256),
    ours.map((f) => f.sha256),
  );
}

export function compareViews(oracle: ViewPart[], ours: ViewPart[]): Agreement {
  const leavesO = oracle.filter((p) => p.kind === 'leaf');
  const leavesU = ours.filter((p) => p.kind === 'leaf');
  const structure = oracle.length === ours.length && oracle.every((p, i) => p.path === ours[i]!.path && p.kind === ours[i]!.kind);
  const contentTypes = structure && oracle.every((p, i) => p.contentType === ours[i]!.contentType);
  const filenames = leavesO.length === leavesU.length && leavesO.every((p, i) => (p.filename ?? null) === (leavesU[i]!.filename ?? null));
  const payloads = leavesO.length === leavesU.length && leavesO.every((p, i) => p.sha256 === null || p.sha256 === leavesU[i]!.sha256);
  const files = compareFiles(oracleFiles(oracle), oracleFiles(ours));
  return { leafCount: leavesO.length === leavesU.length, structure, contentTypes, filenames, payloads, files };
}
