// A counting semaphore: at most `limit` holders at once, the others wait in arrival order. A waiter is
// woken by a release and given that slot directly, so nobody arriving meanwhile can slip past it.
// (Waiting with Promise.race over the running tasks instead leaves a reaction on each task still running,
// about 300 bytes each time, kept until that task ends: a slow remote delivery collected one for every
// message handled beside it.)
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /** Waits for a slot; call the returned function (once; later calls do nothing) to give it back. */
  async acquire(): Promise<() => void> {
    if (this.active < this.limit) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    };
  }

  /** Nobody holds a slot or waits for one. */
  get idle(): boolean {
    return this.active === 0 && this.waiting.length === 0;
  }
}
