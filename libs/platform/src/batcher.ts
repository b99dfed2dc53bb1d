// Gathers the calls of one moment into batches: the items added during one turn of the event loop
// leave together on the next turn while fewer than `maxCalls` batches are out; otherwise the next
// batch leaves as soon as one comes back. Under load the batches grow by themselves (one broker
// message or one gRPC call carries many items); alone, an item goes at once, waiting for nothing.
export interface BatcherOptions<I> {
  /** Items in one batch at most. */
  maxItems: number;
  /** Batches out at once; while they run, the next one gathers. */
  maxCalls: number;
  /** Bytes in one batch at most (a lone item larger than this still goes, alone). */
  maxBytes?: number;
  sizeOf?: (item: I) => number;
}

interface Waiting<I, R> {
  item: I;
  resolve: (reply: R) => void;
  reject: (err: unknown) => void;
}

export class Batcher<I, R = void> {
  private readonly waiting: Waiting<I, R>[] = [];
  private calls = 0;
  private scheduled = false;

  /** `send` answers one reply per item, in order; when it fails, every item of that batch fails with it. */
  constructor(
    private readonly send: (items: I[]) => Promise<R[]>,
    private readonly options: BatcherOptions<I>,
  ) {}

  add(item: I): Promise<R> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.calls >= this.options.maxCalls || this.waiting.length === 0) return;
    this.scheduled = true;
    // The next turn, not now: the items added in this turn travel together.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const { maxItems, maxCalls, maxBytes = Number.POSITIVE_INFINITY, sizeOf = () => 0 } = this.options;
    while (this.calls < maxCalls && this.waiting.length > 0) {
      const batch: Waiting<I, R>[] = [];
      let bytes = 0;
      while (batch.length < maxItems && this.waiting.length > 0) {
        const size = sizeOf(this.waiting[0]!.item);
        if (batch.length > 0 && bytes + size > maxBytes) break;
        bytes += size;
        batch.push(this.waiting.shift()!);
      }
      this.calls++;
      this.send(batch.map((w) => w.item))
        .then(
          (replies) => {
            if (replies.length !== batch.length) throw new Error(`a batch of ${batch.length} items was answered with ${replies.length} replies`);
            batch.forEach((w, i) => w.resolve(replies[i]!));
          },
        )
        .catch((err: unknown) => batch.forEach((w) => w.reject(err)))
        .finally(() => {
          this.calls--;
          this.schedule();
        });
    }
  }
}
