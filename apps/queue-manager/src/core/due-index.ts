// The due-time index: which queue entries need attention when, read in time order. A binary heap of
// (due time, queue id) with one live time per entry; a superseded heap item is skipped when it
// surfaces. Rebuilt from the queue entries whenever a process takes the queue over, so it is as
// restart-safe as the entries themselves.

interface Item {
  dueAt: number;
  queueId: string;
}

export class DueIndex {
  private readonly heap: Item[] = [];
  private readonly live = new Map<string, number>();

  /** Sets (or with undefined, clears) when the entry is next due. */
  set(queueId: string, dueAt: number | undefined): void {
    if (dueAt === undefined) {
      this.live.delete(queueId);
      return;
    }
    if (this.live.get(queueId) === dueAt) return;
    this.live.set(queueId, dueAt);
    this.push({ dueAt, queueId });
    // Superseded items pile up when entries are rescheduled often; compact now and then.
    if (this.heap.length > 2 * this.live.size + 1024) this.rebuild();
  }

  /** The earliest due time, or undefined when nothing waits. */
  next(): number | undefined {
    this.dropStale();
    return this.heap[0]?.dueAt;
  }

  /** Removes and returns the entries due at `now`, earliest first. */
  takeDue(now: number, max = Number.POSITIVE_INFINITY): string[] {
    const due: string[] = [];
    while (due.length < max) {
      this.dropStale();
      const top = this.heap[0];
      if (!top || top.dueAt > now) break;
      this.pop();
      this.live.delete(top.queueId);
      due.push(top.queueId);
    }
    return due;
  }

  private dropStale(): void {
    while (this.heap.length > 0 && this.live.get(this.heap[0]!.queueId) !== this.heap[0]!.dueAt) this.pop();
  }

  private rebuild(): void {
    this.heap.length = 0;
    for (const [queueId, dueAt] of this.live) this.push({ dueAt, queueId });
  }

  private push(item: Item): void {
    const heap = this.heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.dueAt <= item.dueAt) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = item;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.dueAt < heap[left]!.dueAt ? right : left;
      if (heap[child]!.dueAt >= last.dueAt) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}
