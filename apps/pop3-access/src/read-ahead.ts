// Read-ahead for a POP3 session: clients fetch a maildrop in order (RETR 1, RETR 2, …), so one
// FetchMessages call brings the next small messages while the client still reads the current one,
// instead of a round trip to mailbox-store per RETR. Messages in a leased maildrop cannot change until
// the session's UPDATE, so what was read ahead stays right for the whole session.
import type { MaildropMessage } from './protocol/session.js';

export interface FetchedMessage {
  uidl: string;
  data: Uint8Array;
  missing: boolean;
}

export interface ReadAheadLimits {
  /** Bytes asked for in one call; 0 turns read-ahead off. About twice this is held at most. */
  budgetBytes: number;
  /** Larger messages are never read ahead (they stream on their own). */
  maxMessageBytes: number;
  /** Messages asked for in one call. */
  maxMessages: number;
}

/**
 * The limits for a budget: messages up to 256 KiB, 64 at most per call. mailbox-store answers one call
 * with about 3 MiB at most; what it leaves out is streamed, so a budget above 2 MiB brings nothing.
 */
export const readAheadLimits = (budgetBytes: number): ReadAheadLimits => ({
  budgetBytes,
  maxMessageBytes: 256 * 1024,
  maxMessages: 64,
});

export class ReadAhead {
  private readonly positions = new Map<string, number>();
  /** Messages asked for and not yet taken, by uidl; undefined once the answer came without them. */
  private readonly held = new Map<string, Promise<Uint8Array | undefined>>();
  private heldBytes = 0;
  /** The position after the last message asked for. */
  private coveredUntil = 0;

  constructor(
    private readonly messages: readonly MaildropMessage[],
    private readonly limits: ReadAheadLimits,
    private readonly fetchMany: (uidls: string[]) => Promise<FetchedMessage[]>,
  ) {
    messages.forEach((m, i) => this.positions.set(m.uidl, i));
  }

  /**
   * The whole message for a RETR: read ahead, or in a new call that also brings the ones after it.
   * Undefined when it is not one to read ahead (too large, read-ahead off) or the answer left it out:
   * the caller then streams it on its own.
   */
  async take(uidl: string): Promise<Uint8Array | undefined> {
    const position = this.positions.get(uidl);
    if (position === undefined || !this.eligible(position)) return undefined;
    let pending = this.held.get(uidl);
    if (!pending) {
      // Not read ahead: the client left the order (or this is its first RETR). Start over from here.
      this.held.clear();
      this.heldBytes = 0;
      this.coveredUntil = position;
      this.askFrom(position);
      pending = this.held.get(uidl)!;
    }
    this.held.delete(uidl);
    this.heldBytes -= this.messages[position]!.size;
    // Keep the next call in flight while this message goes out.
    if (this.heldBytes < this.limits.budgetBytes / 2 && this.coveredUntil > position) this.askFrom(this.coveredUntil);
    return pending;
  }

  /** The message if it is already read ahead, left in place (TOP, which a RETR may follow). */
  peek(uidl: string): Promise<Uint8Array | undefined> | undefined {
    return this.held.get(uidl);
  }

  private eligible(position: number): boolean {
    return this.limits.budgetBytes > 0 && this.messages[position]!.size <= this.limits.maxMessageBytes;
  }

  /** Asks for the eligible messages from `start` on, up to the budget; stops at the first ineligible one. */
  private askFrom(start: number): void {
    const uidls: string[] = [];
    let bytes = 0;
    let position = start;
    for (; position < this.messages.length && uidls.length < this.limits.maxMessages && this.eligible(position); position++) {
      const size = this.messages[position]!.size;
      if (uidls.length > 0 && bytes + size > this.limits.budgetBytes) break;
      uidls.push(this.messages[position]!.uidl);
      bytes += size;
    }
    if (uidls.length === 0) return;
    this.coveredUntil = position;
    this.heldBytes += bytes;
    const answer = this.fetchMany(uidls).then(
      (fetched) => new Map(fetched.filter((m) => !m.missing).map((m) => [m.uidl, m.data])),
      () => new Map<string, Uint8Array>(), // the caller streams each one on its own and meets the error there
    );
    for (const uidl of uidls) this.held.set(uidl, answer.then((found) => found.get(uidl)));
  }
}
