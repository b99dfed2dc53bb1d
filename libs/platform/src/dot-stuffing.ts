// Transparency for SMTP DATA (RFC 5321 §4.5.2) and POP3 multi-line responses (RFC 1939 §3), which
// share one rule: a line that begins with "." gets one more, and "<CRLF>.<CRLF>" ends the content.

const LF = 0x0a;
const DOT = 0x2e;

/** Byte-stuffs a stream of content and appends the terminator, adding a final CRLF if the content lacks one. */
export async function* dotStuff(content: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncIterable<Buffer> {
  let atLineStart = true;
  let lastByte = LF;
  let sawAny = false;
  for await (const chunk of content) {
    const input = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (input.length === 0) continue;
    sawAny = true;
    const pieces: Buffer[] = [];
    let runStart = 0;
    for (let i = 0; i < input.length; i++) {
      if (atLineStart && input[i] === DOT) {
        pieces.push(input.subarray(runStart, i), Buffer.from('.'));
        runStart = i;
      }
      atLineStart = input[i] === LF;
    }
    pieces.push(input.subarray(runStart));
    lastByte = input[input.length - 1]!;
    yield Buffer.concat(pieces);
  }
  yield Buffer.from(sawAny && lastByte !== LF ? '\r\n.\r\n' : '.\r\n');
}
