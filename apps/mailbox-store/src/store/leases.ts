// In-process maildrop leases for the embedded backend (one mailbox-store process owns the files).
// A lease that is not renewed expires, so a vanished POP3 session cannot hold a maildrop forever.
import { randomUUID } from 'node:crypto';

export class LeaseTable {
  private readonly leases = new Map<string, { id: string; expiresAt: number }>();

  acquire(mailbox: string, ttlMs: number, now = Date.now()): string | undefined {
    const current = this.leases.get(mailbox);
    if (current && current.expiresAt > now) return undefined;
    const id = randomUUID();
    this.leases.set(mailbox, { id, expiresAt: now + ttlMs });
    return id;
  }

  renew(mailbox: string, id: string, ttlMs: number, now = Date.now()): boolean {
    const current = this.leases.get(mailbox);
    if (current?.id === id && current.expiresAt > now) {
      current.expiresAt = now + ttlMs;
      return true;
    }
    // Lost after a restart of this process, or expired while nobody else took it: take it back.
    if (!current || current.expiresAt <= now) {
      this.leases.set(mailbox, { id, expiresAt: now + ttlMs });
      return true;
    }
    return false;
  }

  holds(mailbox: string, id: string, now = Date.now()): boolean {
    const current = this.leases.get(mailbox);
    return current?.id === id && current.expiresAt > now;
  }

  release(mailbox: string, id: string): void {
    if (this.leases.get(mailbox)?.id === id) this.leases.delete(mailbox);
  }
}
