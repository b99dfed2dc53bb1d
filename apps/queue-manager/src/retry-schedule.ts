// When to try a deferred destination again: a configurable back-off list whose last step repeats,
// (the queue lifetime is the queue policy's, core/decisions.ts); durations are written like "1m,5m,15m,30m,1h".

import { parseDuration } from '@mail/platform';

/** Steps in milliseconds from "1m,5m,15m" (each a duration as parseDuration reads it, above zero). */
export function parseSchedule(text: string): number[] {
  const steps = text.split(',').map((s) => parseDuration(s));
  if (steps.some((s) => s === undefined || s <= 0)) throw new Error('expected durations above zero separated by commas (e.g. 1m,5m,15m,30m,1h)');
  return steps as number[];
}

export class RetrySchedule {
  constructor(private readonly steps: number[]) {}

  /** Delay after the `attempts`-th failed attempt (1-based): the schedule's step, the last one repeating. */
  delayAfter(attempts: number): number {
    return this.steps[Math.min(Math.max(attempts, 1), this.steps.length) - 1]!;
  }

}
