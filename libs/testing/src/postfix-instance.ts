// A private Postfix instance, for the interoperability tests and the benchmarks: its own configuration,
// queue and virtual maildirs under a temporary directory, an smtpd on loopback, every other domain relayed
// to one host (the system under test) when one is given, and its log in a file of its own. Debian's
// postfix package; it must run as root (Postfix's master process does), so without both,
// `postfixUnavailable()` says why and the tests skip.
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort } from '@mail/launcher';
import { temporaryDirectory } from './temporary-directories.js';

const POSTFIX = '/usr/sbin/postfix';
const SENDMAIL = '/usr/sbin/sendmail';

/** Why a private Postfix cannot run here, or undefined when it can. */
export function postfixUnavailable(): string | undefined {
  if (!existsSync(POSTFIX) || !existsSync(SENDMAIL)) return 'Postfix is not installed (Debian package postfix)';
  if (process.getuid?.() !== 0) return 'a private Postfix instance needs root (its master process starts as root)';
  const version = spawnSync('postconf', ['-d', '-h', 'mail_version'], { encoding: 'utf8' });
  if (version.status !== 0) return `postconf does not run: ${version.stderr.trim()}`;
  return undefined;
}

export interface PostfixOptions {
  /** Its name (myhostname): the Reporting-MTA of its notices. */
  hostname: string;
  /** The domain it keeps mail for, in virtual maildirs, and its users' local parts. */
  domain: string;
  users: string[];
  /** Where all other mail goes: [127.0.0.1]:relayPort; none: it keeps only its own domain's mail. */
  relayPort?: number;
  /** Its smtpd's port; a free one when not given. */
  port?: number;
  /** More main.cf lines (a benchmark's message size limit, say). */
  settings?: string[];
}

export interface PostfixInstance {
  port: number;
  hostname: string;
  /** The messages in a user's maildir (new/), oldest first. */
  maildir(user: string): Buffer[];
  /** The folder of a user's maildir (cur/, new/, tmp/ below it). */
  maildirPath(user: string): string;
  /** Its log so far (maillog_file). */
  log(): string;
  /** Its queue is empty (postqueue -p says so). */
  queueEmpty(): Promise<boolean>;
  /** Submits a message with Postfix's sendmail(1) (-C this instance); `args` are its options and the recipients. */
  sendmail(args: string[], message: Buffer): Promise<void>;
  stop(): void;
}

export async function startPostfix(options: PostfixOptions): Promise<PostfixInstance> {
  const root = await temporaryDirectory('postfix-');
  chmodSync(root, 0o755); // Postfix's daemons run as postfix and nobody
  const etc = join(root, 'etc');
  const mail = join(root, 'mail');
  const data = join(root, 'data');
  for (const dir of [etc, join(root, 'queue'), data, mail]) mkdirSync(dir, { recursive: true });
  execFileSync('chown', ['-R', 'postfix:postfix', data]);
  const uid = Number(execFileSync('id', ['-u', 'nobody']).toString());
  const gid = Number(execFileSync('id', ['-g', 'nobody']).toString());
  execFileSync('chown', ['-R', `${uid}:${gid}`, mail]);
  const port = options.port ?? (await freePort());
  writeFileSync(join(etc, 'vmailbox'), options.users.map((user) => `${user}@${options.domain} ${options.domain}/${user}/\n`).join(''));
  writeFileSync(
    join(etc, 'main.cf'),
    [
      'compatibility_level = 3.6',
      `queue_directory = ${join(root, 'queue')}`,
      `data_directory = ${data}`,
      'mail_owner = postfix',
      'setgid_group = postdrop',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      `myhostname = ${options.hostname}`,
      'mydestination =',
      'mynetworks = 127.0.0.0/8',
      ...(options.relayPort === undefined ? [] : [`relayhost = [127.0.0.1]:${options.relayPort}`]),
      'smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination',
      `virtual_mailbox_domains = ${options.domain}`,
      `virtual_mailbox_base = ${mail}`,
      `virtual_mailbox_maps = texthash:${join(etc, 'vmailbox')}`,
      `virtual_uid_maps = static:${uid}`,
      `virtual_gid_maps = static:${gid}`,
      'virtual_minimum_uid = 1',
      // Retry soon: the tests wait for its deliveries and notices.
      'queue_run_delay = 2s',
      'minimal_backoff_time = 2s',
      'maximal_backoff_time = 4s',
      // No limit that would refuse a benchmark's load (connections and their rate per client).
      'smtpd_client_connection_count_limit = 0',
      'smtpd_client_connection_rate_limit = 0',
      'default_process_limit = 100',
      'biff = no',
      ...(options.settings ?? []),
      // Postfix logs each message, as our services do.
      `maillog_file = ${join(data, 'maillog')}`,
      'maillog_file_prefixes = /tmp, /var',
      '',
    ].join('\n'),
  );
  // master.cf: service type private unpriv chroot wakeup maxproc command (no chroot).
  const services = [
    [`127.0.0.1:${port}`, 'inet', 'n', '-', '-', '-', 'smtpd'],
    ['pickup', 'unix', 'n', '-', '1', '1', 'pickup'],
    ['cleanup', 'unix', 'n', '-', '-', '0', 'cleanup'],
    ['qmgr', 'unix', 'n', '-', '1', '1', 'qmgr'],
    ['rewrite', 'unix', '-', '-', '-', '-', 'trivial-rewrite'],
    ['bounce', 'unix', '-', '-', '-', '0', 'bounce'],
    ['defer', 'unix', '-', '-', '-', '0', 'bounce'],
    ['trace', 'unix', '-', '-', '-', '0', 'bounce'],
    ['verify', 'unix', '-', '-', '-', '1', 'verify'],
    ['flush', 'unix', 'n', '-', '-', '0', 'flush'],
    ['proxymap', 'unix', '-', '-', '-', '-', 'proxymap'],
    ['smtp', 'unix', '-', '-', '-', '-', 'smtp'],
    ['relay', 'unix', '-', '-', '-', '-', 'smtp'],
    ['showq', 'unix', 'n', '-', '-', '-', 'showq'],
    ['error', 'unix', '-', '-', '-', '-', 'error'],
    ['retry', 'unix', '-', '-', '-', '-', 'error'],
    ['discard', 'unix', '-', '-', '-', '-', 'discard'],
    ['local', 'unix', '-', 'n', '-', '-', 'local'],
    ['virtual', 'unix', '-', 'n', '-', '-', 'virtual'],
    ['anvil', 'unix', '-', '-', '-', '1', 'anvil'],
    ['scache', 'unix', '-', '-', '-', '1', 'scache'],
    ['postlog', 'unix-dgram', 'n', '-', '-', '1', 'postlogd'],
  ];
  writeFileSync(join(etc, 'master.cf'), services.map(([name, type, priv, unpriv, wakeup, limit, command]) => `${name} ${type} ${priv} ${unpriv} n ${wakeup} ${limit} ${command}`).join('\n') + '\n');
  execFileSync(POSTFIX, ['-c', etc, 'check'], { stdio: 'inherit' });
  execFileSync(POSTFIX, ['-c', etc, 'start'], { stdio: 'ignore' });
  await waitForPort(port);
  const maildirPath = (user: string) => join(mail, options.domain, user);
  return {
    port,
    hostname: options.hostname,
    maildirPath,
    maildir: (user) => {
      const dir = join(maildirPath(user), 'new');
      if (!existsSync(dir)) return [];
      return readdirSync(dir)
        .sort()
        .map((name) => readFileSync(join(dir, name)));
    },
    log: () => (existsSync(join(data, 'maillog')) ? readFileSync(join(data, 'maillog'), 'utf8') : ''),
    queueEmpty: () =>
      new Promise((resolve) => execFile('postqueue', ['-c', etc, '-p'], (_err, stdout) => resolve(/Mail queue is empty/.test(String(stdout))))),
    sendmail: (args, message) =>
      new Promise((resolve, reject) => {
        const child = spawn(SENDMAIL, ['-C', etc, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`sendmail ${args.join(' ')} exited ${code}: ${stderr}`))));
        child.stdin.end(message);
      }),
    stop: () => {
      spawnSync(POSTFIX, ['-c', etc, 'stop'], { stdio: 'ignore' });
      // A master whose postlogd died of its watchdog ignores the stop (seen in the benches): killed, and its
      // daemons, which notice their master gone, leave with it.
      const pidFile = join(root, 'queue', 'pid', 'master.pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0;
      for (let waited = 0; pid > 0 && isAlive(pid) && waited < 25; waited++) spawnSync('sleep', ['0.2']);
      if (pid > 0 && isAlive(pid)) process.kill(pid, 'SIGKILL');
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
