// A sliding-window counter per key (client address): at most `max` events per `windowMs`.

export class WindowRateLimit {
  private readonly events = new Map<string, number[]>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts an event for `key` and says whether it is within the limit (max 0 = unlimited). */
  admit(key: string): boolean {
    if (this.max <= 0) return true;
    const since = this.now() - this.windowMs;
    const times = (this.events.get(key) ?? []).filter((t) => t > since);
    if (times.length >= this.max) {
      this.events.set(key, times);
      return false;
    }
    times.push(this.now());
    this.events.set(key, times);
    if (this.events.size > 10_000) for (const [k, v] of this.events) if (v.every((t) => t <= since)) this.events.delete(k);
    return true;
  }
}
