// DKIM signing of outgoing mail (RFC 6376, RFC 8463): a message that an authenticated user of a local
// domain submitted is signed with that domain's newest key before it leaves for a remote server, and so
// is a notice of ours (a bounce, submitted by MAILER-DAEMON@ the reporting host). A host name without a
// key of its own signs with its parent domain's (mx.example.test → example.test), which DMARC's relaxed
// alignment accepts for a From: in the host name. The keys are mailbox-store's; the signature is
// mailauth's (relaxed/relaxed).
import { isAscii } from 'node:buffer';
import { dkimSign } from 'mailauth';
import { downgradeTo7bit, encodeBinaryMime } from '@mail/mime';

export interface SigningKey {
  domain: string;
  selector: string;
  algorithm: string;
  privateKeyPem: string;
}

/** The domain's key, undefined when it has none; throws when it cannot be known now. */
export type SigningKeySource = (domain: string) => Promise<SigningKey | undefined>;

/** A domain's key (or its having none) is believed this long without asking again. */
const KEY_CACHE_MS = 60_000;

export class DkimSigner {
  private readonly keys = new Map<string, { key: SigningKey | undefined; until: number }>();

  constructor(
    private readonly source: SigningKeySource,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The message as it should leave: signed when `submittedBy` is an account of a domain with a key,
   * otherwise unchanged. Throws when the key cannot be fetched (the delivery is tried again later:
   * mail of a domain that signs never leaves unsigned).
   *
   * What is signed is what every hop carries unchanged: a binary body (BINARYMIME) or an 8-bit one is
   * made 7-bit first, since a next hop without BINARYMIME or 8BITMIME would get it re-encoded after the
   * signature and the signature would no longer verify. SMTPUTF8 mail is signed as it is (it is never
   * downgraded: it goes only to hops that take it whole).
   */
  async sign(message: Uint8Array, submittedBy: string, body: { binaryMime?: boolean; smtputf8?: boolean } = {}): Promise<Uint8Array> {
    if (!submittedBy.includes('@')) return message;
    const key = await this.keyOfDomainOrParent(submittedBy.slice(submittedBy.lastIndexOf('@') + 1).toLowerCase());
    if (!key) return message;
    const stable = body.binaryMime ? encodeBinaryMime(message) : body.smtputf8 || isAscii(message) ? message : downgradeTo7bit(message);
    const bytes = Buffer.from(stable.buffer, stable.byteOffset, stable.byteLength);
    const { signatures, errors } = await dkimSign(bytes, {
      canonicalization: 'relaxed/relaxed',
      signatureData: [{ signingDomain: key.domain, selector: key.selector, privateKey: key.privateKeyPem, algorithm: key.algorithm }],
    } as never);
    if (errors?.length) throw new Error(`DKIM signing as ${key.domain} failed: ${String((errors[0] as { err?: Error }).err?.message ?? errors[0])}`);
    return Buffer.concat([Buffer.from(signatures, 'latin1'), bytes]);
  }

  /** The domain's key, or the nearest parent domain's, down to two labels (never a top-level domain's). */
  private async keyOfDomainOrParent(domain: string): Promise<SigningKey | undefined> {
    const labels = domain.split('.');
    // mx.example.test, example.test; a name of one or two labels is asked for itself only.
    for (let i = 0; i < Math.max(1, labels.length - 1); i++) {
      const key = await this.keyOf(labels.slice(i).join('.'));
      if (key) return key;
    }
    return undefined;
  }

  private async keyOf(domain: string): Promise<SigningKey | undefined> {
    const cached = this.keys.get(domain);
    if (cached && cached.until > this.now()) return cached.key;
    const key = await this.source(domain);
    this.keys.set(domain, { key, until: this.now() + KEY_CACHE_MS });
    return key;
  }
}
