// The mailctl program object, its global options, and `action`, the wrapper every command uses.
import { Command, Option } from 'commander';
import { MailboxStoreClient, QueueAdminClient } from '@mail/contracts';
import { grpc, grpcClientSetup, loadGrpcTlsSettings, packageVersion } from '@mail/platform';

export const program = new Command();
program
  .name('mailctl')
  .description('Manage the mail platform: domains, users, logins, maildrops, the mail queue, status, settings and logs')
  .version(`mailctl ${packageVersion(import.meta.url)}`, '-V, --version', 'print the version')
  // An option beats its variable, which beats the default (the ports of scripts/start-local.sh).
  .addOption(new Option('--mailbox-store <host:port>', 'mailbox-store gRPC address').env('MAILBOX_STORE_ADDRESS').default('127.0.0.1:50051'))
  .addOption(new Option('--queue-manager <host:port>', 'queue-manager admin gRPC address').env('QUEUE_ADMIN_ADDRESS').default('127.0.0.1:50052'))
  .option('--timeout <ms>', 'deadline for each call', '10000')
  .addHelpText(
    'after',
    `
Services on other ports: give the options, or set the variables once, e.g.
  export MAILBOX_STORE_ADDRESS=127.0.0.1:6051 QUEUE_ADMIN_ADDRESS=127.0.0.1:6052
(scripts/start-local.sh prints the exact command for the ports it uses). TLS to the services: the GRPC_TLS*
variables of the services.`,
  );

interface GlobalOptions {
  mailboxStore: string;
  queueManager: string;
  timeout: string;
}

export interface Clients {
  store(): MailboxStoreClient;
  queue(): QueueAdminClient;
  timeout: number;
}

/**
 * Wraps a command: creates the clients it asks for, closes them after, and turns a gRPC failure
 * into one readable line on stderr and exit status 1.
 */
export function action<A extends unknown[]>(run: (clients: Clients, ...args: A) => Promise<void>) {
  return async (...args: A) => {
    const options = program.opts<GlobalOptions>();
    const open: grpc.Client[] = [];
    // The same GRPC_TLS* settings as the services: mailctl is one more client.
    const setup = grpcClientSetup(loadGrpcTlsSettings());
    let target = '';
    const clients: Clients = {
      timeout: Number(options.timeout),
      store: () => {
        target = `mailbox-store at ${options.mailboxStore}`;
        const client = new MailboxStoreClient(options.mailboxStore, setup.credentials, setup.options);
        open.push(client);
        return client;
      },
      queue: () => {
        target = `queue-manager at ${options.queueManager}`;
        const client = new QueueAdminClient(options.queueManager, setup.credentials, setup.options);
        open.push(client);
        return client;
      },
    };
    try {
      await run(clients, ...args);
    } catch (err) {
      const e = err as { details?: string; message?: string; code?: number };
      const unreachable = e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED;
      process.stderr.write(`mailctl: ${unreachable ? `cannot reach ${target} (is it running?)` : e.details || e.message || String(err)}\n`);
      process.exitCode = 1;
    } finally {
      for (const client of open) client.close();
    }
  };
}

