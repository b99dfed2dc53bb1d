// The PROXY protocol (HAProxy's, versions 1 and 2) that cloud load balancers put in front of a TCP
// connection to pass on the real client's address. Parsing only; accept.ts decides whom to believe.

export interface ProxiedAddress {
  /** The original client's address, or undefined for a LOCAL/UNKNOWN header (health checks). */
  address?: string;
  port?: number;
}

export type ProxyParse = { state: 'need-more' } | { state: 'invalid'; reason: string } | { state: 'done'; proxied: ProxiedAddress; consumed: number };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** A v1 header is at most 107 octets, CRLF included. */
const V1_MAX = 107;

/** Parses a PROXY header at the start of `input` (which may be incomplete). */
export function parseProxyHeader(input: Buffer): ProxyParse {
  const probe = Math.min(input.length, V2_SIGNATURE.length);
  if (input.subarray(0, probe).equals(V2_SIGNATURE.subarray(0, probe))) return input.length < 16 ? { state: 'need-more' } : parseV2(input);
  const v1Probe = Math.min(input.length, V1_PREFIX.length);
  if (input.subarray(0, v1Probe).equals(V1_PREFIX.subarray(0, v1Probe))) return parseV1(input);
  return { state: 'invalid', reason: 'no PROXY protocol header' };
}

function parseV1(input: Buffer): ProxyParse {
  const end = input.indexOf('\r\n');
  if (end < 0) return input.length >= V1_MAX ? { state: 'invalid', reason: 'PROXY v1 header too long' } : { state: 'need-more' };
  const fields = input.subarray(0, end).toString('latin1').split(' ');
  const consumed = end + 2;
  if (fields[1] === 'UNKNOWN') return { state: 'done', proxied: {}, consumed };
  if (fields.length !== 6 || (fields[1] !== 'TCP4' && fields[1] !== 'TCP6')) return { state: 'invalid', reason: 'malformed PROXY v1 header' };
  const port = Number(fields[4]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return { state: 'invalid', reason: 'bad port in PROXY v1 header' };
  return { state: 'done', proxied: { address: fields[2]!, port }, consumed };
}

function parseV2(input: Buffer): ProxyParse {
  const versionCommand = input[12]!;
  if (versionCommand >> 4 !== 2) return { state: 'invalid', reason: 'unsupported PROXY protocol version' };
  const length = input.readUInt16BE(14);
  if (input.length < 16 + length) return { state: 'need-more' };
  const consumed = 16 + length;
  const command = versionCommand & 0x0f;
  if (command === 0x0) return { state: 'done', proxied: {}, consumed }; // LOCAL: the proxy's own check
  if (command !== 0x1) return { state: 'invalid', reason: 'unknown PROXY v2 command' };
  const family = input[13]! >> 4;
  const body = input.subarray(16, consumed);
  if (family === 0x1 && length >= 12) {
    return { state: 'done', proxied: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) }, consumed };
  }
  if (family === 0x2 && length >= 36) {
    const groups = [];
    for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(i).toString(16));
    return { state: 'done', proxied: { address: groups.join(':').replace(/\b(?:0:){2,}/, ':'), port: body.readUInt16BE(32) }, consumed };
  }
  return { state: 'done', proxied: {}, consumed }; // UNSPEC or UNIX: keep the connection's own address
}
