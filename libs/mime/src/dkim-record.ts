// The DNS TXT record that publishes a DKIM public key (RFC 6376 §3.6.1): "v=DKIM1; k=rsa; p=<SPKI>" for
// RSA, and for Ed25519 the bare 32-byte key (RFC 8463 §4.2). Text only; the key comes from node:crypto.
import type { KeyObject } from 'node:crypto';

export function formatDkimKeyRecord(publicKey: KeyObject): string {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  if (publicKey.asymmetricKeyType === 'ed25519') return `v=DKIM1; k=ed25519; p=${spki.subarray(spki.length - 32).toString('base64')}`;
  if (publicKey.asymmetricKeyType === 'rsa') return `v=DKIM1; k=rsa; p=${spki.toString('base64')}`;
  throw new Error(`a DKIM key is RSA or Ed25519, not ${publicKey.asymmetricKeyType}`);
}
