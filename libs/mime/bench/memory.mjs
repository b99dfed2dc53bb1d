// Peak memory (RSS) of @mail/mime vs mailparser and postal-mime, honestly: one fresh child
// process per parser and input (bench/memory-child.mjs), peak RSS as the kernel counts it (VmHWM
// of /proc/self/status) read at the end of the child, minus the peak of an idle child
// that loads the same modules and reads the same input. Each figure is the median of `runs`.
// Usage (in libs/mime, after npx tsc -b): node bench/memory.mjs [runs=3]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBig, makeTypical } from './inputs.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
/** Version of an installed package, found as Node resolves it (nearest node_modules upwards). */
export function version(pkg) {
  for (let dir = here; ; dir = dirname(dir)) {
    const file = join(dir, 'node_modules', pkg, 'package.json');
    if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')).version;
    if (dirname(dir) === dir) return 'unknown';
  }
}
export const PARSERS = ['ours', 'ours-stream', 'mailparser', 'postal-mime'];

function child(name, file, offsets) {
  const args = [`${here}memory-child.mjs`, name, file, ...(offsets ? [offsets] : [])];
  return JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20 })).maxRss;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Peak RSS above the idle child, per parser, for each input set; numbers in bytes. */
export function measureMemory(runs = 3) {
  const dir = mkdtempSync(join(tmpdir(), 'mime-mem-'));
  try {
    const big = makeBig();
    writeFileSync(join(dir, 'big.eml'), big);
    const typical = makeTypical();
    const offsets = [0];
    for (const m of typical) offsets.push(offsets[offsets.length - 1] + m.length);
    writeFileSync(join(dir, 'typical.mbox'), Buffer.concat(typical));
    writeFileSync(join(dir, 'typical.json'), JSON.stringify(offsets));
    const sets = [
      { label: 'one 20 MB message', bytes: big.length, args: [join(dir, 'big.eml')] },
      { label: '1,000 x ~120 KB, parsed one after another', bytes: offsets[offsets.length - 1], args: [join(dir, 'typical.mbox'), join(dir, 'typical.json')] },
    ];
    const out = [];
    for (const set of sets) {
      const idle = median(Array.from({ length: runs }, () => child('idle', ...set.args)));
      const row = { label: set.label, bytes: set.bytes, idle, peak: {} };
      for (const name of PARSERS) row.peak[name] = median(Array.from({ length: runs }, () => child(name, ...set.args))) - idle;
      out.push(row);
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printMemory(rows) {
  const mb = (n) => (n / 1e6).toFixed(1);
  console.log(`peak RSS above an idle child (node ${process.version}; mailparser ${version('mailparser')}, postal-mime ${version('postal-mime')}):`);
  for (const row of rows) {
    const lowerPeer = Math.min(row.peak.mailparser, row.peak['postal-mime']);
    console.log(`\n${row.label} (${mb(row.bytes)} MB input; idle child ${mb(row.idle)} MB RSS)`);
    for (const [name, peak] of Object.entries(row.peak)) console.log(`  ${name.padEnd(12)} ${mb(peak).padStart(7)} MB   ${(peak / lowerPeer).toFixed(2)}x the lower peer`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printMemory(measureMemory(Number(process.argv[2] ?? 3)));
