// When to try a deferred destination again: a configurable back-off list whose last step repeats,
// (the queue lifetime is the queue policy's, core/decisions.ts); durations are written like "1m,5m,15m,30m,1h".

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "5m", "4h", "5d", "250ms", or a bare number of milliseconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a duration (e.g. 30s, 5m, 4h, 5d)`);
  return Math.round(Number(match[1]) * UNITS[match[2] ?? 'ms']!);
}

export function parseSchedule(text: string): number[] {
  const steps = text.split(',').map((s) => parseDuration(s));
  if (steps.length === 0 || steps.some((s) => s <= 0)) throw new Error(`retry schedule "${text}" needs positive durations`);
  return steps;
}

export class RetrySchedule {
  constructor(private readonly steps: number[]) {}

  /** Delay after the `attempts`-th failed attempt (1-based): the schedule's step, the last one repeating. */
  delayAfter(attempts: number): number {
    return this.steps[Math.min(Math.max(attempts, 1), this.steps.length) - 1]!;
  }

}
