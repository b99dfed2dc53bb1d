// DKIM signing keys of local domains (RFC 6376, RFC 8463): made here, so that the private half is only
// ever in mailbox-store's storage; what an operator publishes is derived from it.
import { createPrivateKey, createPublicKey, generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import type { DkimKeyInfo } from '@mail/contracts';
import { formatDkimKeyRecord } from '@mail/mime';
import { grpc, RpcError } from '@mail/platform';
import type { DkimKey } from './store/types.js';

const generate = promisify(generateKeyPair);

/** RFC 6376 §3.1: a selector is dot-separated sub-domain labels. */
const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function requireSelector(selector: string, now: Date): string {
  const name = selector.trim().toLowerCase() || `s${now.toISOString().slice(0, 10).replace(/-/g, '')}`;
  if (!SELECTOR.test(name)) throw new RpcError(grpc.status.INVALID_ARGUMENT, `invalid selector: ${JSON.stringify(selector)} (letters, digits, hyphens, dots)`);
  return name;
}

/** A new key pair: RSA of 2048 bits (RFC 8301 asks at least 1024, recommends 2048) or Ed25519. */
export async function makeDkimKey(domain: string, selector: string, algorithm: string, now: Date, signsFromMs = now.getTime()): Promise<DkimKey> {
  const kind = algorithm.trim().toLowerCase() || 'rsa';
  if (kind !== 'rsa' && kind !== 'ed25519') throw new RpcError(grpc.status.INVALID_ARGUMENT, `algorithm must be rsa or ed25519, not ${JSON.stringify(algorithm)}`);
  const { privateKey } = kind === 'rsa' ? await generate('rsa', { modulusLength: 2048 }) : await generate('ed25519');
  return {
    domain,
    selector,
    algorithm: kind === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256',
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    createdAtMs: now.getTime(),
    signsFromMs: Math.max(signsFromMs, now.getTime()),
  };
}

const signsFrom = (key: DkimKey) => key.signsFromMs ?? key.createdAtMs;

/**
 * The key that signs a domain's mail at `nowMs`: of those whose time has come, the latest to start (then
 * the newest). A key added by a rotation waits for its time while the previous one goes on signing.
 */
export function signingKeyAt(keys: DkimKey[], nowMs: number): DkimKey | undefined {
  let signing: DkimKey | undefined;
  for (const key of keys) {
    if (signsFrom(key) > nowMs) continue;
    if (!signing || signsFrom(key) > signsFrom(signing) || (signsFrom(key) === signsFrom(signing) && key.createdAtMs >= signing.createdAtMs)) signing = key;
  }
  return signing;
}

/** The keys as shown, each domain's signing one (at `nowMs`) marked. */
export function keyInfosWithSigning(keys: DkimKey[], nowMs: number): DkimKeyInfo[] {
  const signing = new Set<DkimKey>();
  for (const domain of new Set(keys.map((key) => key.domain))) {
    const key = signingKeyAt(keys.filter((k) => k.domain === domain), nowMs);
    if (key) signing.add(key);
  }
  return keys.map((key) => dkimKeyInfo(key, signing.has(key)));
}

/** What may be shown of a key: where and what to publish, never the private key; `signing`: it signs now. */
export function dkimKeyInfo(key: DkimKey, signing = false): DkimKeyInfo {
  return {
    domain: key.domain,
    selector: key.selector,
    algorithm: key.algorithm,
    dnsName: `${key.selector}._domainkey.${key.domain}`,
    txtRecord: formatDkimKeyRecord(createPublicKey(createPrivateKey(key.privateKeyPem))),
    createdAtMs: key.createdAtMs,
    signsFromMs: signsFrom(key),
    signing,
  };
}
