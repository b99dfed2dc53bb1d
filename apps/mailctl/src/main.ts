#!/usr/bin/env node
// mailctl: the operator's command line. Accounts and domains through mailbox-store
// (MAILBOX_STORE_ADDRESS), the mail queue through queue-manager's admin API (QUEUE_ADMIN_ADDRESS).
import { registerAccountCommands } from './account-commands.js';
import { registerAuthCommands } from './auth-commands.js';
import { registerDkimCommands } from './dkim-commands.js';
import { registerLogCommands } from './log-commands.js';
import { program } from './cli.js';
import { registerQueueCommands } from './queue-commands.js';
import { registerStatusCommands } from './status-commands.js';
import { registerTlsRptCommands } from './tlsrpt-commands.js';

// A reader that stops early (`mailctl logs | head`) closes the pipe: that ends the output, as for any
// Unix tool, rather than a crash with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

registerAccountCommands(program);
registerAuthCommands(program);
registerDkimCommands(program);
registerLogCommands(program);
registerQueueCommands(program);
registerStatusCommands(program);
registerTlsRptCommands(program);
await program.parseAsync(process.argv);
