#!/usr/bin/env node
// mailctl: the operator's command line. Talks to mailbox-store over gRPC (MAILBOX_STORE_ADDRESS).
import { Command } from 'commander';
import { MailboxStoreClient } from '@mail/contracts';
import { clientChannelOptions, grpc, insecureCredentials, unary } from '@mail/platform';
import { readPassword } from './password-input.js';

const program = new Command();
program
  .name('mailctl')
  .description('Manage the mail platform: domains and users')
  .option('--mailbox-store <host:port>', 'mailbox-store gRPC address', process.env.MAILBOX_STORE_ADDRESS ?? '127.0.0.1:50051')
  .option('--queue-manager <host:port>', 'queue-manager admin gRPC address', process.env.QUEUE_ADMIN_ADDRESS ?? '127.0.0.1:50052')
  .option('--timeout <ms>', 'deadline for each call', '10000');

function client(): { store: MailboxStoreClient; timeout: number } {
  const options = program.opts<{ mailboxStore: string; timeout: string }>();
  return { store: new MailboxStoreClient(options.mailboxStore, insecureCredentials(), clientChannelOptions), timeout: Number(options.timeout) };
}

/** Runs one call and turns a gRPC failure into a one-line message and exit status 1. */
function action<A extends unknown[]>(run: (store: MailboxStoreClient, timeout: number, ...args: A) => Promise<void>) {
  return async (...args: A) => {
    const { store, timeout } = client();
    try {
      await run(store, timeout, ...args);
    } catch (err) {
      const e = err as { details?: string; message?: string; code?: number };
      const unreachable = e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED;
      const address = program.opts<{ mailboxStore: string }>().mailboxStore;
      process.stderr.write(`mailctl: ${unreachable ? `cannot reach mailbox-store at ${address} (is it running?)` : e.details || e.message || String(err)}\n`);
      process.exitCode = 1;
    } finally {
      store.close();
    }
  };
}

const domain = program.command('domain').description('local domains');
domain
  .command('add <domain>')
  .description('accept mail for a domain')
  .action(
    action(async (store, timeout, name: string) => {
      await unary(store.addDomain.bind(store), { domain: name }, timeout);
      console.log(`domain ${name.toLowerCase()} added`);
    }),
  );
domain
  .command('remove <domain>')
  .description('stop accepting mail for a domain (it must have no users)')
  .action(
    action(async (store, timeout, name: string) => {
      await unary(store.removeDomain.bind(store), { domain: name }, timeout);
      console.log(`domain ${name.toLowerCase()} removed`);
    }),
  );
domain
  .command('list')
  .description('list local domains')
  .action(
    action(async (store, timeout) => {
      const reply = await unary(store.listDomains.bind(store), {}, timeout);
      for (const name of reply.domains) console.log(name);
    }),
  );

const user = program.command('user').description('mailbox accounts');
user
  .command('add <address>')
  .description('create a mailbox; the password is read from a prompt, or from stdin when it is not a terminal')
  .action(
    action(async (store, timeout, address: string) => {
      const password = await readPassword(`Password for ${address}: `);
      await unary(store.addUser.bind(store), { address, password }, timeout);
      console.log(`user ${address.toLowerCase()} added`);
    }),
  );
user
  .command('passwd <address>')
  .description('change a password (prompt, or stdin)')
  .action(
    action(async (store, timeout, address: string) => {
      const password = await readPassword(`New password for ${address}: `);
      await unary(store.setPassword.bind(store), { address, password }, timeout);
      console.log(`password of ${address.toLowerCase()} changed`);
    }),
  );
user
  .command('remove <address>')
  .description('delete a mailbox account')
  .action(
    action(async (store, timeout, address: string) => {
      await unary(store.removeUser.bind(store), { address }, timeout);
      console.log(`user ${address.toLowerCase()} removed`);
    }),
  );
user
  .command('list [domain]')
  .description('list accounts, optionally of one domain')
  .action(
    action(async (store, timeout, name?: string) => {
      const reply = await unary(store.listUsers.bind(store), { domain: name ?? '' }, timeout);
      for (const address of reply.addresses) console.log(address);
    }),
  );

await program.parseAsync(process.argv);
