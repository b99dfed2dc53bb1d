// Postfix for the benchmarks: Debian's package (installed when missing, with its smtp-source load
// generator), and the test kit's private instance (src/postfix-instance.ts) with one user whose virtual
// maildir the benchmark counts.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startPostfix as startPrivatePostfix } from '../dist/postfix-instance.js';

export function ensurePostfix() {
  if (existsSync('/usr/sbin/postfix') && existsSync('/usr/sbin/smtp-source')) return;
  console.log('installing postfix with apt-get (the baseline and its smtp-source load generator)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('debconf-set-selections', { input: "postfix postfix/main_mailer_type select 'No configuration'\n", env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'postfix'], { stdio: 'inherit', env });
}

/** A private Postfix keeping mail for bench@bench.test in a virtual maildir; `settings`: more main.cf lines. */
export async function startPostfix(settings = []) {
  const postfix = await startPrivatePostfix({ hostname: 'bench.local', domain: 'bench.test', users: ['bench'], settings });
  const arrived = join(postfix.maildirPath('bench'), 'new');
  return {
    name: 'Postfix',
    port: postfix.port,
    recipient: 'bench@bench.test',
    /** The virtual maildirs' folder: <maildirBase>/bench is bench@bench.test's (for a Dovecot beside it). */
    maildirBase: join(postfix.maildirPath('bench'), '..'),
    delivered: () => (existsSync(arrived) ? readdirSync(arrived).length : 0),
    /** The last lines of its maillog: why it stopped delivering, if it did. */
    logTail: () => postfix.log().trimEnd().split('\n').slice(-5).join('\n'),
    stop: () => postfix.stop(),
  };
}
