// What delivery-agent still limits itself (queue-manager admits jobs per domain and rate): at most N
// connections at once per MX host, which several domains may share, and a host or domain that just
// failed at the connection level is backed off as a whole instead of being tried message by message.
import { Semaphore } from '@mail/platform';

export class Throttle {
  private readonly hostSlots = new Map<string, Semaphore>();
  private readonly backoffUntil = new Map<string, { until: number; reason: string }>();

  constructor(
    private readonly maxConnectionsPerHost: number,
    private readonly backoffMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The reason a destination is backed off, or undefined. */
  backedOff(key: string): string | undefined {
    const entry = this.backoffUntil.get(key);
    if (!entry) return undefined;
    if (entry.until <= this.now()) {
      this.backoffUntil.delete(key);
      return undefined;
    }
    return entry.reason;
  }

  backOff(key: string, reason: string): void {
    if (this.backoffMs > 0) this.backoffUntil.set(key, { until: this.now() + this.backoffMs, reason });
  }

  clearBackoff(key: string): void {
    this.backoffUntil.delete(key);
  }

  /** Waits for a connection slot to the host; call the returned function to give it back. */
  async hostSlot(host: string): Promise<() => void> {
    const key = host.toLowerCase();
    let semaphore = this.hostSlots.get(key);
    if (!semaphore) this.hostSlots.set(key, (semaphore = new Semaphore(this.maxConnectionsPerHost)));
    const release = await semaphore.acquire();
    return () => {
      release();
      if (semaphore.idle) this.hostSlots.delete(key);
    };
  }
}
