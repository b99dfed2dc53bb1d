// POP3 multi-line responses (RFC 1939 §3): byte-stuffing of lines that begin with "." and the CRLF.CRLF
// terminator (shared with SMTP, in @mail/platform), and the TOP cut (headers, the blank line, then at most n body lines). Pure stream transforms.

const CR = 0x0d;
const LF = 0x0a;

/** Byte-stuffing and the terminator are shared with SMTP DATA. */
export { dotStuff } from '@mail/wire';

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
