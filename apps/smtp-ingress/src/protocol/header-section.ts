// The header section of a message streaming through the session: held back until the blank line that
// ends it (or until it is implausibly long), so that what must go from it — Authentication-Results fields
// claiming our authserv-id (RFC 8601 §5) — is taken out before anything is passed on; the body then
// passes straight through. The session also reads the held section (the Received count of a loop).

import { withoutClaimsOf } from '../auth/results-header.js';

const CR = 0x0d;
const LF = 0x0a;

export class HeaderSection {
  private held: Buffer[] = [];
  private heldBytes = 0;
  private ended = false;
  private section: Buffer | undefined;
  /** The last octets seen, for a blank line split across pieces. */
  private tail = Buffer.alloc(0);

  /**
   * `maxBytes`: a section longer than this is taken as ended there (a header field cannot span it); the
   * body is then whatever follows. `pass` receives the message, filtered, in order.
   */
  constructor(
    private readonly authservId: string,
    private readonly maxBytes: number,
    private readonly pass: (piece: Buffer) => void,
  ) {}

  write(piece: Buffer): void {
    if (this.ended) return this.pass(piece);
    const end = this.endIn(piece);
    if (end < 0 && this.heldBytes + piece.length <= this.maxBytes) {
      this.held.push(piece);
      this.heldBytes += piece.length;
      this.tail = Buffer.concat([this.tail, piece.subarray(-3)]).subarray(-3);
      return;
    }
    const cut = end < 0 ? this.maxBytes - this.heldBytes : end;
    this.held.push(piece.subarray(0, cut));
    this.heldBytes += cut;
    this.release();
    if (cut < piece.length) this.pass(piece.subarray(cut));
  }

  /** The message is complete: a section that never ended (a message of headers only) is passed on now. */
  end(): void {
    if (!this.ended) this.release();
  }

  /** The header section as received (before anything was taken out of it); complete after end(). */
  get received(): Buffer {
    return this.section ?? Buffer.concat(this.held, this.heldBytes);
  }

  private release(): void {
    this.ended = true;
    this.section = Buffer.concat(this.held, this.heldBytes);
    this.held = [];
    for (const kept of withoutClaimsOf(this.section, this.authservId)) this.pass(kept);
  }

  /**
   * Where the section ends within `piece` (just after its blank line: CRLF CRLF, or a CRLF that opens
   * the message), counting octets held before; -1 when not in it.
   */
  private endIn(piece: Buffer): number {
    if (this.heldBytes < 2) {
      // A message that opens with its blank line has an empty header section.
      const opening = Buffer.concat([...this.held, piece.subarray(0, 2)]);
      if (opening[0] === CR && opening[1] === LF) return 2 - this.heldBytes;
    }
    const seen = Buffer.concat([this.tail, piece.subarray(0, 3)]);
    // A blank line that straddles the previous piece and this one.
    for (let i = 0; i + 4 <= seen.length; i++) {
      if (seen[i] === CR && seen[i + 1] === LF && seen[i + 2] === CR && seen[i + 3] === LF) return i + 4 - this.tail.length;
    }
    const at = piece.indexOf('\r\n\r\n');
    return at < 0 ? -1 : at + 4;
  }
}
