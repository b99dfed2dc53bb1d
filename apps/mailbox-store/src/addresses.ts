// Address normalisation for mailbox lookups. Domains are case-insensitive (RFC 5321 §2.4); local parts are
// treated case-insensitively too, as nearly every mail system does, and stored in lower case.

export function splitAddress(address: string): { local: string; domain: string } | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return undefined;
  return { local: address.slice(0, at), domain: address.slice(at + 1).toLowerCase() };
}

export function normaliseAddress(address: string): string {
  return address.trim().toLowerCase();
}

export const isPostmaster = (local: string): boolean => local.toLowerCase() === 'postmaster';
