// What the benchmarks read from the machine: CPU jiffies machine-wide (/proc/stat) and per process group
// (/proc/<pid>/stat), and the statistics they print.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Milliseconds per jiffy. */
export const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim() || 100);

/** Busy and total jiffies of the whole machine. */
export function cpuTicks() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3] + fields[4]; // idle + iowait
  return { busy: total - idle, total };
}

const REPO_ROOT = new URL('../../../', import.meta.url).pathname;
const SERVICE_PATH = new RegExp(`^[^\\0]*node\\0(?:--[^\\0]*\\0)*${REPO_ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}apps/([a-z0-9-]+)/dist/main\\.js`);

/** CPU jiffies per process group now: our services by name, nats-server, everything else by command name. */
export function processTicks() {
  return perProcessGroup((fields) => Number(fields[11]) + Number(fields[12])); // utime + stime
}

const PAGE_BYTES = Number(spawnSync('getconf', ['PAGESIZE']).stdout.toString().trim() || 4096);

/** Resident memory (bytes) of one process now. */
export const residentOf = (pid) => Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE_BYTES;

/** Resident memory (bytes) per process group now, grouped as processTicks() groups CPU. */
export function processResident() {
  return perProcessGroup((_fields, pid) => residentOf(pid));
}

/** A sum per process group of what `measureOf` reads from each process's /proc/<pid>/stat fields (after the name). */
function perProcessGroup(measureOf) {
  const groups = new Map();
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const value = measureOf(fields, pid);
      // A kernel worker's name carries the work item it last ran, so it changes between samples: one group.
      let name = comm.startsWith('kworker/') ? 'kernel workers' : comm;
      if (comm === 'nats-server' || comm === 'node') {
        // This checkout's services and nats-server only (or a system nats-server): another checkout's
        // test run on the same machine is not ours.
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (comm === 'nats-server' && cmdline.includes('/.tools/') && !cmdline.startsWith(REPO_ROOT)) continue;
        if (comm === 'node') {
          const service = SERVICE_PATH.exec(cmdline);
          if (!service) continue;
          name = service[1];
        }
      }
      groups.set(name, (groups.get(name) ?? 0) + value);
    } catch {
      // gone meanwhile
    }
  }
  return groups;
}

/** Milliseconds of CPU per unit of work by process group between two processTicks() samples (≥ 0.01 shown). */
export function cpuBreakdown(before, after, units) {
  return [...after]
    .map(([name, ticks]) => [name, ((ticks - (before.get(name) ?? 0)) * TICK_MS) / units])
    .filter(([, ms]) => ms >= 0.01)
    .sort((a, b) => b[1] - a[1]);
}

/** The middle value; of an even count, the mean of the two middle ones (until 2026-12-02: the upper one). */
export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const half = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2;
};

/** The q-quantile (0..1) of the values, nearest rank. */
export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
