// Per-destination throttling in this process: at most N connections at once per recipient domain and
// per MX host, at most M messages per window per domain, and a destination that just failed at the
// connection level is backed off as a whole instead of being tried again message by message.

export interface DestinationLimits {
  maxConnections: number;
  /** Messages per window; 0 = unlimited. */
  maxMessagesPerWindow: number;
  windowMs: number;
}

/** Parses overrides: "example.com=2/100,slow.test=1/10" (connections/messages per window). */
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

class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.waiting.shift()?.();
    };
  }

  get idle(): boolean {
    return this.active === 0 && this.waiting.length === 0;
  }
}

export class Throttle {
  private readonly domainSlots = new Map<string, Semaphore>();
  private readonly hostSlots = new Map<string, Semaphore>();
  private readonly sent = new Map<string, number[]>();
  private readonly backoffUntil = new Map<string, { until: number; reason: string }>();

  constructor(
    private readonly defaults: DestinationLimits,
    private readonly overrides: Map<string, DestinationLimits>,
    private readonly maxConnectionsPerHost: number,
    private readonly backoffMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  limitsFor(domain: string): DestinationLimits {
    return this.overrides.get(domain.toLowerCase()) ?? this.defaults;
  }

  /** Milliseconds until the domain may take another message (0 = now), by its rate limit. */
  rateDelay(domain: string): number {
    const limits = this.limitsFor(domain);
    if (limits.maxMessagesPerWindow <= 0) return 0;
    const since = this.now() - limits.windowMs;
    const times = (this.sent.get(domain) ?? []).filter((t) => t > since);
    this.sent.set(domain, times);
    return times.length < limits.maxMessagesPerWindow ? 0 : times[0]! + limits.windowMs - this.now();
  }

  recordSent(domain: string): void {
    this.sent.set(domain, [...(this.sent.get(domain) ?? []), this.now()]);
  }

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
    this.backoffUntil.set(key, { until: this.now() + this.backoffMs, reason });
  }

  clearBackoff(key: string): void {
    this.backoffUntil.delete(key);
  }

  domainSlot(domain: string): Promise<() => void> {
    return this.slot(this.domainSlots, domain.toLowerCase(), this.limitsFor(domain).maxConnections);
  }

  hostSlot(host: string): Promise<() => void> {
    return this.slot(this.hostSlots, host.toLowerCase(), this.maxConnectionsPerHost);
  }

  private async slot(table: Map<string, Semaphore>, key: string, limit: number): Promise<() => void> {
    let semaphore = table.get(key);
    if (!semaphore) table.set(key, (semaphore = new Semaphore(limit)));
    const release = await semaphore.acquire();
    return () => {
      release();
      if (semaphore.idle) table.delete(key);
    };
  }
}
