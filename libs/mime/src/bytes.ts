// Byte helpers shared by the codec: latin1/ASCII views, concatenation and
// zero-copy Buffer views, so hot paths work on bytes and never on per-line strings.

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;

const utf8Decoder = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

/** A zero-copy Buffer view over a Uint8Array (Buffer has a native indexOf). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function utf8Decode(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

export function utf8Encode(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Each byte becomes the code point of the same value (lossless, for ASCII-only protocol text). */
export function latin1Decode(bytes: Uint8Array): string {
  return asBuffer(bytes).toString('latin1');
}

export function latin1Encode(text: string): Uint8Array {
  return Buffer.from(text, 'latin1');
}

export function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

/** Header text: UTF-8 (RFC 6532), invalid sequences become U+FFFD. ASCII takes the fast path. */
export function headerBytesToString(bytes: Uint8Array): string {
  return isAscii(bytes) ? latin1Decode(bytes) : utf8Decode(bytes);
}

export function concatBytes(chunks: readonly Uint8Array[], total?: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let length = total ?? 0;
  if (total === undefined) for (const c of chunks) length += c.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

export function toBytes(input: Uint8Array | string): Uint8Array {
  return typeof input === 'string' ? utf8Encode(input) : input;
}
