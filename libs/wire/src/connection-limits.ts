// The connection table of a process's mail listeners: how many connections are open in all and per
// client address. A connection holds a slot from the moment it is accepted (before any PROXY header or
// TLS handshake) until its socket closes. The last few slots are kept for addresses that hold none yet,
// so that a few addresses cannot take every slot.

/** Which limit refused a connection: the table is full, the address holds its most, or only the reserve is left. */
export type ConnectionRefusal = 'total' | 'per-address' | 'reserved';

/** One connection's place in the table; `release` is safe to call more than once. */
export interface ConnectionSlot {
  /** The client address counted, once known. */
  readonly address: string | undefined;
  /** Counts the slot against `address` (a PROXY header named the real client), once; a refusal keeps the slot uncounted. */
  assign(address: string): ConnectionRefusal | undefined;
  release(): void;
}

export class ConnectionLimits {
  private total = 0;
  private readonly perAddress = new Map<string, number>();
  /** The last this many slots go only to addresses without a connection. */
  private readonly reservedForNewAddresses: number;

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerAddress: number,
    reservedPercent = 0,
  ) {
    this.reservedForNewAddresses = Math.floor((maxTotal * reservedPercent) / 100);
  }

  /**
   * Takes a slot, counted against `address` when given (a peer that will send a PROXY header is counted
   * in all only, until the header names the client); or says which limit refuses the connection.
   */
  take(address?: string): ConnectionSlot | ConnectionRefusal {
    if (this.total >= this.maxTotal) return 'total';
    this.total++;
    let counted: string | undefined;
    let released = false;
    const slot: ConnectionSlot = {
      get address() {
        return counted;
      },
      assign: (next) => {
        if (released || counted !== undefined) return undefined;
        const refusal = this.refusalFor(next);
        if (refusal) return refusal;
        counted = next;
        this.perAddress.set(next, (this.perAddress.get(next) ?? 0) + 1);
        return undefined;
      },
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        if (counted !== undefined) this.forget(counted);
      },
    };
    const refusal = address === undefined ? undefined : slot.assign(address);
    if (refusal) {
      slot.release();
      return refusal;
    }
    return slot;
  }

  /** Connections open now, in all. */
  get open(): number {
    return this.total;
  }

  /** Whether `address` may count one more slot; `total` already includes that slot. */
  private refusalFor(address: string): ConnectionRefusal | undefined {
    const held = this.perAddress.get(address) ?? 0;
    if (held >= this.maxPerAddress) return 'per-address';
    if (held > 0 && this.maxTotal - this.total < this.reservedForNewAddresses) return 'reserved';
    return undefined;
  }

  private forget(address: string): void {
    const current = (this.perAddress.get(address) ?? 1) - 1;
    if (current <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, current);
  }
}
