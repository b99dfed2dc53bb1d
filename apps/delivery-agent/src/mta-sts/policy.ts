// The MTA-STS grammar (RFC 8461 §3.1-§3.2, §4.1) and the TLS-RPT record (RFC 8460 §3), with no I/O:
// the `_mta-sts` TXT record, the policy file, and which MX names a policy allows.
// (mailauth has MTA-STS helpers, but its wildcard matches any depth of labels where §4.1 allows one,
// and its fetch has a fixed port, the system's CAs only, and no size limit: we need all three.)

export type StsMode = 'enforce' | 'testing' | 'none';

export interface StsPolicy {
  mode: StsMode;
  /** Allowed MX names and `*.` patterns, lower case, without a trailing dot. */
  mx: string[];
  /** Seconds the policy may be cached (at most 31557600, RFC 8461 §3.2). */
  maxAge: number;
}

export class PolicySyntaxError extends Error {}

const MAX_AGE_LIMIT = 31_557_600;
const MODES = new Set<StsMode>(['enforce', 'testing', 'none']);
/** A domain name or a `*.`-prefixed one (RFC 8461 §3.2 sts-policy-mx-value), 253 octets at most. */
const MX_PATTERN = /^(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

const normalName = (name: string) => name.trim().toLowerCase().replace(/\.$/, '');

/** Splits "k1=v1; k2=v2;" into a map of the first value of each tag (RFC 8461 §3.1 and RFC 8460 §3 share this form). */
function tags(record: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of record.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    if (!map.has(key)) map.set(key, part.slice(eq + 1).trim());
  }
  return map;
}

/**
 * The policy id of a domain from its `_mta-sts` TXT answer (each record's strings are joined), or
 * undefined when the domain has no usable record: not exactly one record starts with "v=STSv1", or
 * that one has no valid id (1-32 letters and digits).
 */
export function parseStsRecord(answer: string[][]): string | undefined {
  const records = answer.map((strings) => strings.join('')).filter((text) => /^v=STSv1\s*(;|$)/.test(text));
  if (records.length !== 1) return undefined;
  const id = tags(records[0]!).get('id');
  return id && /^[A-Za-z0-9]{1,32}$/.test(id) ? id : undefined;
}

/** Parses a policy file; throws PolicySyntaxError saying what is wrong. Unknown fields are ignored (§3.2). */
export function parsePolicy(text: string): StsPolicy {
  const fields = new Map<string, string>();
  const mx: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new PolicySyntaxError(`policy line "${line.slice(0, 80)}" is not "key: value"`);
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === 'mx') {
      const pattern = normalName(value);
      if (pattern.length > 253 || !MX_PATTERN.test(pattern)) throw new PolicySyntaxError(`policy mx "${value.slice(0, 80)}" is not a host name or *.pattern`);
      if (!mx.includes(pattern)) mx.push(pattern);
    } else if (!fields.has(key)) fields.set(key, value);
  }
  if (fields.get('version') !== 'STSv1') throw new PolicySyntaxError(`policy version is "${fields.get('version') ?? ''}", not STSv1`);
  const mode = (fields.get('mode') ?? '') as StsMode;
  if (!MODES.has(mode)) throw new PolicySyntaxError(`policy mode "${mode}" is not enforce, testing or none`);
  const maxAgeText = fields.get('max_age') ?? '';
  if (!/^\d{1,10}$/.test(maxAgeText) || Number(maxAgeText) > MAX_AGE_LIMIT) throw new PolicySyntaxError(`policy max_age "${maxAgeText}" is not a number of seconds up to ${MAX_AGE_LIMIT}`);
  if (mode !== 'none' && mx.length === 0) throw new PolicySyntaxError(`a policy in mode ${mode} needs at least one mx`);
  return { mode, mx, maxAge: Number(maxAgeText) };
}

/**
 * Whether an MX host name is allowed by a policy's patterns (RFC 8461 §4.1): equal ignoring case, or a
 * `*.` pattern whose wildcard stands for exactly one leftmost label.
 */
export function mxAllowed(host: string, patterns: readonly string[]): boolean {
  const name = normalName(host);
  return patterns.some((pattern) => {
    if (!pattern.startsWith('*.')) return pattern === name;
    const dot = name.indexOf('.');
    return dot > 0 && name.slice(dot + 1) === pattern.slice(2);
  });
}

/** A domain's TLS-RPT record (RFC 8460 §3): its report addresses, or undefined without a valid v=TLSRPTv1 record. */
export function parseTlsRptRecord(answer: string[][]): string[] | undefined {
  const records = answer.map((strings) => strings.join('')).filter((text) => /^v=TLSRPTv1\s*(;|$)/.test(text));
  if (records.length !== 1) return undefined;
  const rua = tags(records[0]!).get('rua');
  if (!rua) return undefined;
  const uris = rua.split(',').map((u) => u.trim()).filter((u) => /^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+)$/i.test(u));
  return uris.length > 0 ? uris : undefined;
}
