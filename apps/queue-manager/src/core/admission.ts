// Admission control per destination, after Postfix's qmgr: a job goes out only while its destination
// has room under its concurrency limit and its message rate, and its lane has room overall. The
// concurrency a destination gets is a window that starts low, grows with each success and shrinks
// with each failure (qmgr's "concurrency feedback"), between 1 and the configured limit. Local
// delivery is its own lane with its own limit, so remote traffic never stands in front of it.
import type { Lane } from './entry.js';
import type { JobFeedback } from './decisions.js';

export interface DestinationLimits {
  /** Jobs (connections) in flight at once. */
  maxConnections: number;
  /** Jobs started per window; 0 = unlimited. */
  maxMessagesPerWindow: number;
  windowMs: number;
}

/** Parses overrides: "example.com=2/100,slow.test=1/10" (connections/messages per window; /0 = no rate limit). */
export function parseDomainLimits(text: string, defaults: DestinationLimits): Map<string, DestinationLimits> {
  const map = new Map<string, DestinationLimits>();
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const match = /^([^=]+)=(\d+)(?:\/(\d+))?$/.exec(entry);
    if (!match) throw new Error(`domain limit "${entry}" is not domain=connections[/messages]`);
    map.set(match[1]!.toLowerCase(), {
      ...defaults,
      maxConnections: Math.max(1, Number(match[2])),
      maxMessagesPerWindow: match[3] === undefined ? defaults.maxMessagesPerWindow : Number(match[3]),
    });
  }
  return map;
}

export interface AdmissionSettings {
  /** Limits of a remote domain (its overrides included). */
  limitsFor(domain: string): DestinationLimits;
  /** Jobs in flight at once per lane, all destinations together. */
  laneLimits: Record<Lane, number>;
  /** The concurrency window a remote destination starts with (qmgr: initial_destination_concurrency). */
  initialConcurrency: number;
}

/** Admitted; or not now: `waitMs` is when the rate allows another (undefined: when a job finishes). */
export type Admit = { ok: true } | { ok: false; waitMs?: number };

interface DestinationState {
  inFlight: number;
  /** The concurrency window: jobs in flight may reach floor(window). */
  window: number;
  /** Start times of the jobs of the current rate window. */
  started: number[];
}

/** The admission key of a destination: one per remote domain; all of local delivery is one. */
export const destinationKey = (lane: Lane, domain: string): string => (lane === 'local' ? 'local' : `remote:${domain}`);

export class Admission {
  private readonly destinations = new Map<string, DestinationState>();
  private readonly laneInFlight: Record<Lane, number> = { local: 0, remote: 0 };

  constructor(
    private readonly settings: AdmissionSettings,
    private readonly now: () => number = Date.now,
  ) {}

  private limits(lane: Lane, domain: string): DestinationLimits {
    if (lane === 'local') return { maxConnections: this.settings.laneLimits.local, maxMessagesPerWindow: 0, windowMs: 1 };
    return this.settings.limitsFor(domain);
  }

  private state(lane: Lane, domain: string): DestinationState {
    const key = destinationKey(lane, domain);
    let state = this.destinations.get(key);
    if (!state) {
      const { maxConnections } = this.limits(lane, domain);
      // Local delivery is our own store: it starts at its full limit.
      const window = lane === 'local' ? maxConnections : Math.min(maxConnections, this.settings.initialConcurrency);
      state = { inFlight: 0, window, started: [] };
      this.destinations.set(key, state);
    }
    return state;
  }

  /** Takes a slot for one job to the destination, or says why not. */
  tryAdmit(lane: Lane, domain: string): Admit {
    if (this.laneInFlight[lane] >= this.settings.laneLimits[lane]) return { ok: false };
    const state = this.state(lane, domain);
    const limits = this.limits(lane, domain);
    if (state.inFlight >= Math.max(1, Math.floor(Math.min(state.window, limits.maxConnections)))) return { ok: false };
    if (limits.maxMessagesPerWindow > 0) {
      const now = this.now();
      state.started = state.started.filter((t) => t > now - limits.windowMs);
      if (state.started.length >= limits.maxMessagesPerWindow) return { ok: false, waitMs: state.started[0]! + limits.windowMs - now };
      state.started.push(now);
    }
    state.inFlight++;
    this.laneInFlight[lane]++;
    return { ok: true };
  }

  /** Whether a job to the destination would be admitted now (nothing is taken). */
  canAdmit(lane: Lane, domain: string): boolean {
    if (this.laneInFlight[lane] >= this.settings.laneLimits[lane]) return false;
    const state = this.destinations.get(destinationKey(lane, domain));
    if (!state) return true;
    const limits = this.limits(lane, domain);
    if (state.inFlight >= Math.max(1, Math.floor(Math.min(state.window, limits.maxConnections)))) return false;
    const now = this.now();
    return limits.maxMessagesPerWindow <= 0 || state.started.filter((t) => t > now - limits.windowMs).length < limits.maxMessagesPerWindow;
  }

  laneLimit(lane: Lane): number {
    return this.settings.laneLimits[lane];
  }

  /** Counts a job that is already out (found in flight when this process took over the queue). */
  restore(lane: Lane, domain: string): void {
    this.state(lane, domain).inFlight++;
    this.laneInFlight[lane]++;
  }

  /** A job finished (or was given up on): its slot is free, and its outcome moves the window. */
  release(lane: Lane, domain: string, feedback: JobFeedback): void {
    const key = destinationKey(lane, domain);
    const state = this.destinations.get(key);
    if (!state || state.inFlight === 0) return;
    state.inFlight--;
    this.laneInFlight[lane] = Math.max(0, this.laneInFlight[lane] - 1);
    const { maxConnections } = this.limits(lane, domain);
    if (lane === 'remote') {
      if (feedback === 'success') state.window = Math.min(maxConnections, state.window + 1 / state.window);
      else if (feedback === 'failure') state.window = Math.max(1, state.window - 1 / state.window);
    }
    // Like qmgr, an idle destination is forgotten: the next job starts from the initial window again.
    if (state.inFlight === 0 && state.started.length === 0) this.destinations.delete(key);
  }

  /** Jobs in flight in a lane (metrics, and the lane-wide check of the waiting lines). */
  inFlight(lane: Lane): number {
    return this.laneInFlight[lane];
  }
}
