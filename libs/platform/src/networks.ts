// Networks (CIDR lists) for relay permission and trusted proxies.
import { BlockList, isIPv4 } from 'node:net';

/** Parses "10.0.0.0/8,192.0.2.7,::1/128" into a matcher; throws on a malformed entry. */
export function parseNetworks(text: string): (address: string) => boolean {
  const list = new BlockList();
  let any = false;
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const [address = '', prefix] = entry.split('/');
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    const bits = prefix === undefined ? (type === 'ipv4' ? 32 : 128) : Number(prefix);
    if (!Number.isInteger(bits) || bits < 0 || bits > (type === 'ipv4' ? 32 : 128)) throw new Error(`bad network "${entry}"`);
    try {
      list.addSubnet(address, bits, type);
    } catch {
      throw new Error(`bad network "${entry}"`);
    }
    any = true;
  }
  if (!any) return () => false;
  return (address) => {
    const plain = address.replace(/^::ffff:/, '');
    try {
      return list.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6');
    } catch {
      return false;
    }
  };
}
