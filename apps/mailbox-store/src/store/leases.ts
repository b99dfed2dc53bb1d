// Maildrop leases for the embedded backend (one mailbox-store process owns the files), kept in memory
// and saved by the store after every change (leases.json), so a restart of mailbox-store does not free a
// maildrop that a POP3 session still holds. A lease that is not renewed expires, so a vanished POP3
// session cannot hold a maildrop forever.
import { randomUUID } from 'node:crypto';

export interface Lease {
  mailbox: string;
  id: string;
  expiresAt: number;
}

export class LeaseTable {
  private readonly leases = new Map<string, { id: string; expiresAt: number }>();

  /** The live leases, to be saved. */
  entries(now = Date.now()): Lease[] {
    return [...this.leases].filter(([, lease]) => lease.expiresAt > now).map(([mailbox, lease]) => ({ mailbox, ...lease }));
  }

  /** Takes back saved leases (at start). */
  restore(saved: Lease[], now = Date.now()): void {
    for (const lease of saved) if (lease.expiresAt > now) this.leases.set(lease.mailbox, { id: lease.id, expiresAt: lease.expiresAt });
  }

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
    // Expired while nobody else took it (or lost with a leases file that could not be read): take it back.
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
