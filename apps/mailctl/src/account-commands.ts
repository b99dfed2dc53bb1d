// mailctl domain ..., mailctl user ... and mailctl mailbox ...: local domains, mailbox accounts and what
// their maildrops hold.
import type { Command } from 'commander';
import { unary } from '@mail/platform';
import { action } from './cli.js';
import { MIN_PASSWORD_LENGTH, readNewPassword } from './password-input.js';

export function registerAccountCommands(program: Command): void {
  const domain = program.command('domain').description('local domains');
  domain
    .command('add <domain>')
    .description('accept mail for a domain')
    .option('--postmaster <user>', 'the account that receives postmaster@<domain> (an address, or a local part of the domain); default: the first user added')
    .action(
      action(async (c, name: string, options: { postmaster?: string }) => {
        const store = c.store();
        await unary(store.addDomain.bind(store), { domain: name, postmaster: options.postmaster ?? '' }, c.timeout);
        console.log(`domain ${name.toLowerCase()} added${options.postmaster ? `, postmaster ${options.postmaster.toLowerCase()}` : ''}`);
      }),
    );
  domain
    .command('postmaster <domain> <user>')
    .description('name the (existing) account that receives postmaster@<domain>')
    .action(
      action(async (c, name: string, postmaster: string) => {
        const store = c.store();
        await unary(store.setDomainPostmaster.bind(store), { domain: name, postmaster }, c.timeout);
        console.log(`postmaster of ${name.toLowerCase()} is ${postmaster.toLowerCase()}`);
      }),
    );
  domain
    .command('remove <domain>')
    .description('stop accepting mail for a domain (it must have no users)')
    .action(
      action(async (c, name: string) => {
        const store = c.store();
        await unary(store.removeDomain.bind(store), { domain: name, postmaster: '' }, c.timeout);
        console.log(`domain ${name.toLowerCase()} removed`);
      }),
    );
  domain
    .command('list')
    .description('list local domains')
    .action(
      action(async (c) => {
        const store = c.store();
        const list = await unary(store.listDomains.bind(store), {}, c.timeout);
        list.domains.forEach((name, i) => console.log(list.postmasters[i] ? `${name}\tpostmaster ${list.postmasters[i]}` : name));
      }),
    );

  const user = program.command('user').description('mailbox accounts');
  user
    .command('add <address>')
    .description(`create a mailbox; the password is read from a prompt (twice), or from stdin when it is not a terminal`)
    .option('--force', `accept a trivial password (shorter than ${MIN_PASSWORD_LENGTH} characters, or the account name)`)
    .action(
      action(async (c, address: string, options: { force?: boolean }) => {
        const password = await readNewPassword(address, options);
        const store = c.store();
        await unary(store.addUser.bind(store), { address, password }, c.timeout);
        console.log(`user ${address.toLowerCase()} added`);
      }),
    );
  user
    .command('passwd <address>')
    .description('change a password (prompt, twice; or stdin)')
    .option('--force', `accept a trivial password (shorter than ${MIN_PASSWORD_LENGTH} characters, or the account name)`)
    .action(
      action(async (c, address: string, options: { force?: boolean }) => {
        const password = await readNewPassword(address, { ...options, prompt: `New password for ${address}: ` });
        const store = c.store();
        await unary(store.setPassword.bind(store), { address, password }, c.timeout);
        console.log(`password of ${address.toLowerCase()} changed`);
      }),
    );
  user
    .command('remove <address>')
    .description('delete a mailbox account')
    .action(
      action(async (c, address: string) => {
        const store = c.store();
        await unary(store.removeUser.bind(store), { address }, c.timeout);
        console.log(`user ${address.toLowerCase()} removed`);
      }),
    );
  user
    .command('list [domain]')
    .description('list accounts, optionally of one domain')
    .action(
      action(async (c, name?: string) => {
        const store = c.store();
        for (const address of (await unary(store.listUsers.bind(store), { domain: name ?? '' }, c.timeout)).addresses) console.log(address);
      }),
    );

  const mailbox = program.command('mailbox').description('maildrops');
  mailbox
    .command('stat <address>')
    .description('what a maildrop holds: messages, total size, oldest and newest arrival (like POP3 STAT)')
    .option('--json', 'JSON output')
    .action(
      action(async (c, address: string, options: { json?: boolean }) => {
        const store = c.store();
        const stat = await unary(store.mailboxStat.bind(store), { address }, c.timeout);
        const when = (ms: number) => (ms ? new Date(ms).toISOString() : '-');
        if (options.json) {
          console.log(JSON.stringify({ ...stat, oldestReceivedAt: stat.oldestReceivedAtMs ? when(stat.oldestReceivedAtMs) : null, newestReceivedAt: stat.newestReceivedAtMs ? when(stat.newestReceivedAtMs) : null }, null, 2));
          return;
        }
        console.log(`mailbox:   ${stat.mailbox}`);
        console.log(`messages:  ${stat.messages}`);
        console.log(`size:      ${stat.bytes} bytes`);
        console.log(`oldest:    ${when(stat.oldestReceivedAtMs)}`);
        console.log(`newest:    ${when(stat.newestReceivedAtMs)}`);
      }),
    );
}
