// A private Postfix instance for the benchmarks: its own configuration, queue and virtual maildir under
// a temporary directory, listening on loopback; Debian's postfix package (installed when missing).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '@mail/launcher';

export function ensurePostfix() {
  if (existsSync('/usr/sbin/postfix') && existsSync('/usr/sbin/smtp-source')) return;
  console.log('installing postfix with apt-get (the baseline and its smtp-source load generator)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('debconf-set-selections', { input: "postfix postfix/main_mailer_type select 'No configuration'\n", env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'postfix'], { stdio: 'inherit', env });
}

/** A private Postfix instance: its own config, queue and maildir, listening on loopback; `settings`: more main.cf lines. */
export async function startPostfix(settings = []) {
  const root = await mkdtemp(join(tmpdir(), 'pf-bench-'));
  chmodSync(root, 0o755); // Postfix's daemons run as postfix and nobody
  const etc = join(root, 'etc');
  const port = await freePort();
  for (const dir of [etc, join(root, 'queue'), join(root, 'data'), join(root, 'mail')]) mkdirSync(dir, { recursive: true });
  execFileSync('chown', ['-R', 'postfix:postfix', join(root, 'data')]);
  const uid = Number(execFileSync('id', ['-u', 'nobody']).toString());
  const gid = Number(execFileSync('id', ['-g', 'nobody']).toString());
  execFileSync('chown', ['-R', `${uid}:${gid}`, join(root, 'mail')]);
  writeFileSync(join(etc, 'vmailbox'), 'bench@bench.test bench.test/bench/\n');
  writeFileSync(
    join(etc, 'main.cf'),
    [
      'compatibility_level = 3.6',
      `queue_directory = ${join(root, 'queue')}`,
      `data_directory = ${join(root, 'data')}`,
      'mail_owner = postfix',
      'setgid_group = postdrop',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      'myhostname = bench.local',
      'mydestination =',
      'mynetworks = 127.0.0.0/8',
      'smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination',
      'virtual_mailbox_domains = bench.test',
      `virtual_mailbox_base = ${join(root, 'mail')}`,
      `virtual_mailbox_maps = texthash:${join(etc, 'vmailbox')}`,
      `virtual_uid_maps = static:${uid}`,
      `virtual_gid_maps = static:${gid}`,
      'virtual_minimum_uid = 1',
      'smtpd_client_connection_count_limit = 0',
      'smtpd_client_connection_rate_limit = 0',
      'default_process_limit = 100',
      'biff = no',
      ...settings,
      // Postfix logs each message, as our services do: both log as they would in production.
      `maillog_file = ${join(root, 'data', 'maillog')}`,
      'maillog_file_prefixes = /tmp, /var',
      '',
    ].join('\n'),
  );
  // master.cf columns: service type private unpriv chroot wakeup maxproc command (no chroot here).
  const service = (name, type, priv, limit, command) => `${name} ${type} ${priv} ${command === 'local' || command === 'virtual' ? 'n' : '-'} n - ${limit} ${command}`;
  writeFileSync(
    join(etc, 'master.cf'),
    [
      service(`127.0.0.1:${port}`, 'inet', 'n', '-', 'smtpd'),
      service('cleanup', 'unix', 'n', '0', 'cleanup'),
      service('qmgr', 'unix', 'n', '1', 'qmgr'),
      service('rewrite', 'unix', '-', '-', 'trivial-rewrite'),
      service('bounce', 'unix', '-', '0', 'bounce'),
      service('defer', 'unix', '-', '0', 'bounce'),
      service('trace', 'unix', '-', '0', 'bounce'),
      service('verify', 'unix', '-', '1', 'verify'),
      service('flush', 'unix', 'n', '0', 'flush'),
      service('proxymap', 'unix', '-', '-', 'proxymap'),
      service('smtp', 'unix', '-', '-', 'smtp'),
      service('relay', 'unix', '-', '-', 'smtp'),
      service('showq', 'unix', 'n', '-', 'showq'),
      service('error', 'unix', '-', '-', 'error'),
      service('retry', 'unix', '-', '-', 'error'),
      service('discard', 'unix', '-', '-', 'discard'),
      service('local', 'unix', '-', '-', 'local'),
      service('virtual', 'unix', '-', '-', 'virtual'),
      service('anvil', 'unix', '-', '1', 'anvil'),
      service('scache', 'unix', '-', '1', 'scache'),
      service('postlog', 'unix-dgram', 'n', '1', 'postlogd'),
      service('pickup', 'unix', 'n', '1', 'pickup'),
      '',
    ].join('\n'),
  );
  execFileSync('postfix', ['-c', etc, 'check'], { stdio: 'inherit' });
  execFileSync('postfix', ['-c', etc, 'start'], { stdio: 'inherit' });
  await waitForPort(port);
  const maildir = join(root, 'mail', 'bench.test', 'bench', 'new');
  return {
    name: 'Postfix',
    port,
    recipient: 'bench@bench.test',
    /** The virtual maildirs' folder: <maildirBase>/bench is bench@bench.test's (for a Dovecot beside it). */
    maildirBase: join(root, 'mail', 'bench.test'),
    delivered: () => (existsSync(maildir) ? readdirSync(maildir).length : 0),
    stop: () => {
      spawnSync('postfix', ['-c', etc, 'stop']);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
