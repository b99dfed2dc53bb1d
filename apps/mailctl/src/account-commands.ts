// mailctl domain ... and mailctl user ...: local domains and mailbox accounts.
import type { Command } from 'commander';
import { unary } from '@mail/platform';
import { action } from './cli.js';
import { readPassword } from './password-input.js';

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
    .description('create a mailbox; the password is read from a prompt, or from stdin when it is not a terminal')
    .action(
      action(async (c, address: string) => {
        const password = await readPassword(`Password for ${address}: `);
        const store = c.store();
        await unary(store.addUser.bind(store), { address, password }, c.timeout);
        console.log(`user ${address.toLowerCase()} added`);
      }),
    );
  user
    .command('passwd <address>')
    .description('change a password (prompt, or stdin)')
    .action(
      action(async (c, address: string) => {
        const password = await readPassword(`New password for ${address}: `);
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
}
