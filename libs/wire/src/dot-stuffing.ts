// Transparency for SMTP DATA (RFC 5321 §4.5.2) and POP3 multi-line responses (RFC 1939 §3), which
// share one rule: a line that begins with "." gets one more, and "<CRLF>.<CRLF>" ends the content.

const LF = 0x0a;
const DOT = 0x2e;
const LF_DOT = Buffer.from('\n.');
const DOT_BUFFER = Buffer.from('.');

/** The position of the next "." right after a LF at or after `from`, or -1. */
function lineStartingDot(input: Buffer, from: number): number {
  const found = input.indexOf(LF_DOT, from);
  return found === -1 ? -1 : found + 1;
}

/** Byte-stuffs a stream of content and appends the terminator, adding a final CRLF if the content lacks one. */
export async function* dotStuff(content: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncIterable<Buffer> {
  let atLineStart = true;
  let lastByte = LF;
  let sawAny = false;
  for await (const chunk of content) {
    const input = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (input.length === 0) continue;
    sawAny = true;
    // Lines that begin with "." are found with the native search for LF "." (and the chunk's first byte
    // when a line starts there), not byte by byte: most lines need nothing, and most chunks go out as they are.
    const pieces: Buffer[] = [];
    let runStart = 0;
    let dot = atLineStart && input[0] === DOT ? 0 : lineStartingDot(input, 0);
    while (dot !== -1) {
      pieces.push(input.subarray(runStart, dot), DOT_BUFFER);
      runStart = dot;
      dot = lineStartingDot(input, dot + 1);
    }
    lastByte = input[input.length - 1]!;
    atLineStart = lastByte === LF;
    if (pieces.length === 0) {
      yield input;
    } else {
      pieces.push(input.subarray(runStart));
      yield Buffer.concat(pieces);
    }
  }
  yield Buffer.from(sawAny && lastByte !== LF ? '\r\n.\r\n' : '.\r\n');
}
