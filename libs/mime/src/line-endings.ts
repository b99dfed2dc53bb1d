// Old Mac mail ends lines with a lone CR. The parser splits lines at LF, so such input is
// rewritten: when the first line break of the input is a CR not followed by LF, every lone CR
// becomes LF (CRLF and LF stay as they are, so all three act as line breaks, as in Python's
// email package and mail clients). Input whose first line break is LF or CRLF is passed
// through untouched, without a copy.

import { CR, LF } from './bytes.js';

const EMPTY = Buffer.alloc(0);
const CR_BYTE = Buffer.from([CR]);
const LF_BYTE = Buffer.from([LF]);

export class LoneCrLineEndings {
  private mode: 'undecided' | 'off' | 'on' = 'undecided';
  /** A CR ended the last chunk; whether it is a lone CR depends on the next byte. */
  private heldCr = false;

  /** True once the input was found to use lone CRs as line breaks. */
  get active(): boolean {
    return this.mode === 'on';
  }

  write(chunk: Buffer): Buffer {
    if (this.mode === 'off' || chunk.length === 0) return chunk;
    if (this.heldCr) {
      this.heldCr = false;
      if (chunk[0] === LF) {
        if (this.mode === 'undecided') this.mode = 'off';
        return this.mode === 'off' ? Buffer.concat([CR_BYTE, chunk]) : Buffer.concat([CR_BYTE, this.convert(chunk)]);
      }
      this.mode = 'on';
      return Buffer.concat([LF_BYTE, this.convert(chunk)]);
    }
    if (this.mode === 'undecided') {
      let i = 0;
      while (i < chunk.length && chunk[i] !== CR && chunk[i] !== LF) i++;
      if (i === chunk.length) return chunk;
      if (chunk[i] === LF || chunk[i + 1] === LF) {
        this.mode = 'off';
        return chunk;
      }
      if (i + 1 === chunk.length) {
        this.heldCr = true;
        return chunk.subarray(0, i);
      }
      this.mode = 'on';
    }
    return this.convert(chunk);
  }

  /** The held-back CR, if the input ended with one (a line break). */
  end(): Buffer {
    if (!this.heldCr) return EMPTY;
    this.heldCr = false;
    return LF_BYTE;
  }

  private convert(chunk: Buffer): Buffer {
    let at = chunk.indexOf(CR);
    if (at < 0) return chunk;
    const out = Buffer.from(chunk);
    let end = out.length;
    for (; at >= 0; at = out.indexOf(CR, at + 1)) {
      if (at + 1 === out.length) {
        this.heldCr = true;
        end = at;
        break;
      }
      if (out[at + 1] !== LF) out[at] = LF;
    }
    return end === out.length ? out : out.subarray(0, end);
  }
}
