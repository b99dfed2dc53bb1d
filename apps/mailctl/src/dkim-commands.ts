// mailctl dkim ...: the DKIM signing keys of local domains, kept by mailbox-store, which makes each key
// pair; what is printed is the DNS TXT record to publish, never the private key.
import type { Command } from 'commander';
import type { DkimKeyInfo } from '@mail/contracts';
import { parseDuration, unary } from '@mail/platform';
import { action } from './cli.js';

/** The record as a zone file line: the TXT text cut into quoted strings of at most 255 octets. */
const zoneLine = (key: DkimKeyInfo) => `${key.dnsName}. IN TXT ${(key.txtRecord.match(/.{1,255}/g) ?? []).map((part) => `"${part}"`).join(' ')}`;

/** A rotation's new key waits this long by default before it signs: time to publish its record and for caches to hold it. */
const DEFAULT_ROTATION_DELAY = '48h';

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
        const key = await unary(store.addDkimKey.bind(store), { domain, selector: options.selector ?? '', algorithm: options.algo, signsFromMs: 0 }, c.timeout);
        console.log(`key ${key.selector} (${key.algorithm}) added to ${key.domain}; publish:`);
        console.log(zoneLine(key));
      }),
    );
  dkim
    .command('rotate <domain>')
    .description('make the next key of a domain: it signs once the delay is over (publish its record now); the current key signs until then')
    .option('--selector <selector>', 'the selector (s=); default: s<YYYYMMDD>')
    .option('--algo <algorithm>', 'rsa (2048 bits) or ed25519', 'rsa')
    .option('--after <duration>', 'when the new key starts signing, e.g. 48h, 7d, 30m', DEFAULT_ROTATION_DELAY)
    .action(
      action(async (c, domain: string, options: { selector?: string; algo: string; after: string }) => {
        const delayMs = parseDuration(options.after);
        if (delayMs === undefined) throw new Error(`--after: expected a duration such as 48h, 7d or 30m, not ${JSON.stringify(options.after)}`);
        const store = c.store();
        const before = (await unary(store.listDkimKeys.bind(store), { domain, postmaster: '' }, c.timeout)).keys;
        const key = await unary(store.addDkimKey.bind(store), { domain, selector: options.selector ?? '', algorithm: options.algo, signsFromMs: Date.now() + delayMs }, c.timeout);
        console.log(`key ${key.selector} (${key.algorithm}) added to ${key.domain}; it signs from ${new Date(key.signsFromMs).toISOString()}. Publish now:`);
        console.log(zoneLine(key));
        const previous = before.filter((k) => k.signsFromMs <= Date.now()).map((k) => k.selector);
        if (previous.length > 0) {
          console.log(`until then ${previous.at(-1)} signs; some days after, once mail signed with them has been delivered: ${previous.map((s) => `mailctl dkim remove ${key.domain} ${s}`).join('; ')}`);
        }
      }),
    );
  dkim
    .command('list [domain]')
    .description('the keys of one domain, or of all, with their records and from when each signs')
    .action(
      action(async (c, domain: string | undefined) => {
        const store = c.store();
        const { keys } = await unary(store.listDkimKeys.bind(store), { domain: domain ?? '', postmaster: '' }, c.timeout);
        const now = Date.now();
        for (const key of keys) {
          const from = new Date(key.signsFromMs).toISOString();
          // Which key signs is mailbox-store's choice; it says so.
          const state = key.signsFromMs > now ? `signs from ${from}` : key.signing ? `signing since ${from}` : 'replaced';
          console.log(`${key.domain}\t${key.selector}\t${key.algorithm}\t${new Date(key.createdAtMs).toISOString()}\t${state}\n  ${zoneLine(key)}`);
        }
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
