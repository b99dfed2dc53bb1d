// mailctl dkim ...: the DKIM signing keys of local domains, kept by mailbox-store, which makes each key
// pair; what is printed is the DNS TXT record to publish, never the private key.
import type { Command } from 'commander';
import type { DkimKeyInfo } from '@mail/contracts';
import { unary } from '@mail/platform';
import { action } from './cli.js';

/** The record as a zone file line: the TXT text cut into quoted strings of at most 255 octets. */
const zoneLine = (key: DkimKeyInfo) => `${key.dnsName}. IN TXT ${(key.txtRecord.match(/.{1,255}/g) ?? []).map((part) => `"${part}"`).join(' ')}`;

export function registerDkimCommands(program: Command): void {
  const dkim = program.command('dkim').description('DKIM signing keys of local domains (RFC 6376)');
  dkim
    .command('add <domain>')
    .description('make a signing key for a local domain and print the DNS TXT record to publish')
    .option('--selector <selector>', 'the selector (s=); default: s<YYYYMMDD>')
    .option('--algo <algorithm>', 'rsa (2048 bits) or ed25519', 'rsa')
    .action(
      action(async (c, domain: string, options: { selector?: string; algo: string }) => {
        const store = c.store();
        const key = await unary(store.addDkimKey.bind(store), { domain, selector: options.selector ?? '', algorithm: options.algo }, c.timeout);
        console.log(`key ${key.selector} (${key.algorithm}) added to ${key.domain}; publish:`);
        console.log(zoneLine(key));
      }),
    );
  dkim
    .command('list [domain]')
    .description('the keys of one domain, or of all, with their records')
    .action(
      action(async (c, domain: string | undefined) => {
        const store = c.store();
        const { keys } = await unary(store.listDkimKeys.bind(store), { domain: domain ?? '', postmaster: '' }, c.timeout);
        for (const key of keys) console.log(`${key.domain}\t${key.selector}\t${key.algorithm}\t${new Date(Number(key.createdAtMs)).toISOString()}\n  ${zoneLine(key)}`);
      }),
    );
  dkim
    .command('remove <domain> <selector>')
    .description('forget a key (remove its DNS record some days later, once no mail signed with it is in transit)')
    .action(
      action(async (c, domain: string, selector: string) => {
        const store = c.store();
        await unary(store.removeDkimKey.bind(store), { domain, selector }, c.timeout);
        console.log(`key ${selector.toLowerCase()} of ${domain.toLowerCase()} removed`);
      }),
    );
}
