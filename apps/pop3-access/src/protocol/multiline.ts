// POP3 multi-line responses (RFC 1939 §3): byte-stuffing of lines that begin with ".", the CRLF.CRLF
// terminator, and the TOP cut (headers, the blank line, then at most n body lines). Pure stream transforms.

const CR = 0x0d;
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

/** Cuts a message after its header block plus `bodyLines` lines of body (RFC 1939 TOP). */
export async function* topOfMessage(content: AsyncIterable<Uint8Array>, bodyLines: number): AsyncIterable<Uint8Array> {
  let inHeaders = true;
  let previousWasLf = true; // start of message counts as start of a line
  let linesLeft = bodyLines;
  for await (const chunk of content) {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte === LF) {
        if (inHeaders && previousWasLf) {
          inHeaders = false; // the blank line ends the headers
          if (linesLeft === 0) {
            yield chunk.subarray(0, i + 1);
            return;
          }
        } else if (!inHeaders && --linesLeft === 0) {
          yield chunk.subarray(0, i + 1);
          return;
        }
        previousWasLf = true;
      } else if (byte !== CR) {
        previousWasLf = false;
      }
    }
    yield chunk;
  }
}
