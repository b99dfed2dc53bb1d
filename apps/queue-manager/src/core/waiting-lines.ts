// The lines of entries that are due but have no admission yet, one per destination, in arrival order
// (qmgr's per-destination queues). A line whose destination's rate window is closed carries a timer
// that calls `reopened` when it opens again. No I/O, no admission decisions: queue-core.ts takes the
// next entry of a line when a slot comes free.
import { destinationKey } from './admission.js';
import type { Lane } from './entry.js';

interface Line {
  lane: Lane;
  domain: string;
  queueIds: Set<string>;
  timer?: NodeJS.Timeout;
}

export class WaitingLines {
  private readonly lines = new Map<string, Line>();

  constructor(private readonly reopened: (lane: Lane, domain: string) => void) {}

  /** Puts the entry at the end of the destination's line (kept where it is if already there). */
  join(lane: Lane, domain: string, queueId: string, reopensInMs?: number): void {
    const key = destinationKey(lane, domain);
    let line = this.lines.get(key);
    if (!line) this.lines.set(key, (line = { lane, domain, queueIds: new Set() }));
    line.queueIds.add(queueId);
    if (reopensInMs !== undefined && !line.timer) {
      const waiting = line;
      waiting.timer = setTimeout(() => {
        waiting.timer = undefined;
        this.reopened(lane, domain);
      }, Math.max(1, reopensInMs));
      waiting.timer.unref?.();
    }
  }

  leave(lane: Lane, domain: string, queueId: string): void {
    const key = destinationKey(lane, domain);
    const line = this.lines.get(key);
    if (!line) return;
    line.queueIds.delete(queueId);
    if (line.queueIds.size === 0) this.drop(key);
  }

  /** Takes the entry out of every line (it left the queue). */
  leaveAll(queueId: string): void {
    for (const [key, line] of [...this.lines]) {
      line.queueIds.delete(queueId);
      if (line.queueIds.size === 0) this.drop(key);
    }
  }

  /** The first entry of a destination's line, taken out of it; undefined when empty or its rate window is closed. */
  takeFirst(lane: Lane, domain: string): string | undefined {
    const key = destinationKey(lane, domain);
    const line = this.lines.get(key);
    if (!line || line.timer) return undefined;
    const [queueId] = line.queueIds;
    if (queueId === undefined) return undefined;
    line.queueIds.delete(queueId);
    if (line.queueIds.size === 0) this.drop(key);
    return queueId;
  }

  has(lane: Lane, domain: string, queueId: string): boolean {
    return this.lines.get(destinationKey(lane, domain))?.queueIds.has(queueId) ?? false;
  }

  /** The destinations that have a line, of one lane or all. */
  destinations(lane?: Lane): { lane: Lane; domain: string }[] {
    return [...this.lines.values()].filter((l) => !lane || l.lane === lane).map(({ lane: l, domain }) => ({ lane: l, domain }));
  }

  /** Opens every rate window now (a test's clock jumped; or the process gives up its timers). */
  openAll(): void {
    for (const line of this.lines.values()) {
      if (line.timer) clearTimeout(line.timer);
      line.timer = undefined;
    }
  }

  clear(): void {
    this.openAll();
    this.lines.clear();
  }

  private drop(key: string): void {
    const line = this.lines.get(key);
    if (line?.timer) clearTimeout(line.timer);
    this.lines.delete(key);
  }
}
