// Throttling of failed authentications, per client address and per account name (whether or not
// the account exists, so the lock itself reveals nothing): each failure adds a growing delay to the
// answer, and too many failures within the window lock further attempts for a while.

export interface AuthThrottleSettings {
  /** Failures within `windowMs` that lock the address or account. */
  maxFailures: number;
  windowMs: number;
  lockMs: number;
  /** Delay added to the answer after the first failure; doubles with each further one. */
  baseDelayMs: number;
  maxDelayMs: number;
}

interface Record_ {
  failures: number[];
  lockedUntil: number;
}

export class AuthThrottle {
  private readonly records = new Map<string, Record_>();

  constructor(
    private readonly settings: AuthThrottleSettings,
    private readonly now: () => number = Date.now,
  ) {}

  private keys(clientAddress: string, account: string): string[] {
    return [`ip:${clientAddress}`, `account:${account.trim().toLowerCase()}`];
  }

  private record(key: string): Record_ {
    let record = this.records.get(key);
    if (!record) this.records.set(key, (record = { failures: [], lockedUntil: 0 }));
    const since = this.now() - this.settings.windowMs;
    record.failures = record.failures.filter((t) => t > since);
    return record;
  }

  /** True while the address or the account is locked: answer "try later" without checking credentials. */
  locked(clientAddress: string, account: string): boolean {
    return this.keys(clientAddress, account).some((key) => this.record(key).lockedUntil > this.now());
  }

  /** Records a failure; returns how long to wait before answering. */
  failed(clientAddress: string, account: string): number {
    let failures = 0;
    for (const key of this.keys(clientAddress, account)) {
      const record = this.record(key);
      record.failures.push(this.now());
      if (record.failures.length >= this.settings.maxFailures) record.lockedUntil = this.now() + this.settings.lockMs;
      failures = Math.max(failures, record.failures.length);
    }
    this.prune();
    return Math.min(this.settings.baseDelayMs * 2 ** (failures - 1), this.settings.maxDelayMs);
  }

  /** A success clears the account's failures (not the address's: one good password does not excuse many bad ones). */
  succeeded(account: string): void {
    this.records.delete(`account:${account.trim().toLowerCase()}`);
  }

  private prune(): void {
    if (this.records.size < 10_000) return;
    const now = this.now();
    for (const [key, record] of this.records) {
      if (record.lockedUntil <= now && record.failures.every((t) => t <= now - this.settings.windowMs)) this.records.delete(key);
    }
  }
}
