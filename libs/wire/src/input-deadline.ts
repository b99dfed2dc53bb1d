// Deadlines for slow clients, on top of the idle timeout per read: one command line must be complete
// within a set time of its first byte, and a data transfer must keep an average rate (every byte earns
// a little more time). A client trickling a byte now and then no longer holds its connection for ever.

export class InputDeadline {
  private timer: NodeJS.Timeout | undefined;
  private due = 0;

  constructor(
    private readonly onExpired: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  get armed(): boolean {
    return this.timer !== undefined;
  }

  /** Starts the clock, `ms` from now, unless it runs already. */
  arm(ms: number): void {
    if (this.timer) return;
    this.due = this.now() + ms;
    this.schedule();
  }

  /** Moves a running deadline `ms` later. */
  extend(ms: number): void {
    if (this.timer) this.due += ms;
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      if (this.now() < this.due) return this.schedule();
      this.timer = undefined;
      this.onExpired();
    }, Math.max(0, this.due - this.now()));
  }
}
