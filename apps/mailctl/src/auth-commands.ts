// mailctl auth ...: the failed-login throttle kept by mailbox-store (list, unlock) and a password check
// outside it, like doveadm auth test.
import type { Command } from 'commander';
import { AuthRecordKind, type AuthRecord } from '@mail/contracts';
import { unary } from '@mail/platform';
import { action } from './cli.js';
import { readPassword } from './password-input.js';

const KIND_NAMES: Record<number, string> = {
  [AuthRecordKind.AUTH_RECORD_KIND_LOGIN]: 'login',
  [AuthRecordKind.AUTH_RECORD_KIND_ADDRESS]: 'address',
  [AuthRecordKind.AUTH_RECORD_KIND_ACCOUNT]: 'account',
};

function lockText(record: AuthRecord, now: number): string {
  if (record.lockedUntilMs <= now) return 'delayed';
  return `locked until ${new Date(record.lockedUntilMs).toISOString()} (${Math.ceil((record.lockedUntilMs - now) / 1000)}s)`;
}

export function registerAuthCommands(program: Command): void {
  const auth = program.command('auth').description('failed-login throttling and password checks (mailbox-store)');
  auth
    .command('locks')
    .description('logins, client addresses and accounts with failed logins in the window: locks first, then delays')
    .option('--json', 'one JSON array, for scripts')
    .action(
      action(async (c, options: { json?: boolean }) => {
        const store = c.store();
        const { records } = await unary(store.listAuthRecords.bind(store), {}, c.timeout);
        if (options.json) {
          console.log(JSON.stringify(records.map((r) => ({ ...r, kind: KIND_NAMES[r.kind] ?? 'unknown' })), null, 2));
          return;
        }
        if (records.length === 0) {
          console.log('no failed logins in the window');
          return;
        }
        const now = Date.now();
        console.log(['KIND'.padEnd(7), 'CLIENT ADDRESS'.padEnd(39), 'ACCOUNT'.padEnd(32), 'FAILS', 'STATE'].join('  '));
        for (const r of records) {
          console.log([(KIND_NAMES[r.kind] ?? '?').padEnd(7), (r.clientAddress || '-').padEnd(39), (r.account || '-').padEnd(32), String(r.failures).padStart(5), lockText(r, now)].join('  '));
        }
      }),
    );
  auth
    .command('unlock')
    .description('forget the failed logins and locks of a client address, of an account, or of that account from that address')
    .option('--address <ip>', 'client address')
    .option('--user <address>', 'account name')
    .action(
      action(async (c, options: { address?: string; user?: string }) => {
        if (!options.address && !options.user) throw new Error('give --address, --user, or both');
        const store = c.store();
        const request = { clientAddress: options.address ?? '', account: options.user ?? '' };
        const { cleared } = await unary(store.clearAuthRecords.bind(store), request, c.timeout);
        const what = options.user && options.address ? `${options.user} from ${options.address}` : (options.user ?? options.address);
        console.log(cleared === 0 ? `nothing recorded for ${what}` : `unlocked ${what} (${cleared} record${cleared === 1 ? '' : 's'} cleared)`);
      }),
    );
  auth
    .command('test <address>')
    .description('check a password (prompt, or stdin) without counting a failure or being refused by a lock; exit status 1 when wrong')
    .action(
      action(async (c, address: string) => {
        const password = await readPassword(`Password for ${address}: `);
        const store = c.store();
        const reply = await unary(store.testPassword.bind(store), { address, password }, c.timeout);
        if (!reply.ok) throw new Error(`auth failed for ${address}: unknown user or wrong password`);
        console.log(`auth succeeded: ${address} is mailbox ${reply.mailbox}`);
      }),
    );
}
