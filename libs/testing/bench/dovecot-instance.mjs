// A private Dovecot POP3 instance for the benchmarks: its own configuration, runtime directory, users
// (a passwd-file) and maildirs under a temporary directory, listening on loopback; Debian's
// dovecot-pop3d package (installed when missing). Messages are written straight into the maildirs, as
// a delivery agent would leave them.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '@mail/launcher';

export function ensureDovecot() {
  if (existsSync('/usr/sbin/dovecot') && existsSync('/usr/lib/dovecot/pop3')) return;
  console.log('installing dovecot-pop3d with apt-get (the POP3 baseline)');
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'dovecot-pop3d'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/**
 * A SHA512-CRYPT hash of `password` with `rounds` rounds (doveadm pw): a login that costs about what one
 * of ours costs (scrypt N=16384: ~40 ms on this machine class), for benchmarks that log in per request.
 */
export function hashedPassword(password, rounds = 100_000) {
  return execFileSync('doveadm', ['pw', '-s', 'SHA512-CRYPT', '-r', String(rounds), '-p', password]).toString().trim();
}

export function dovecotVersion() {
  return execFileSync('/usr/sbin/dovecot', ['--version']).toString().trim();
}

/**
 * Starts Dovecot with `users` ({ name, password }) whose maildirs hold `messages(name)` (an array of
 * Buffers, each one message with CRLF line ends). `options.maildirBase` serves the maildirs under that
 * folder instead (another MTA delivers there). Returns { port, stop }.
 */
export async function startDovecot(users, messages, options = {}) {
  const root = await mkdtemp(join(tmpdir(), 'dovecot-bench-'));
  chmodSync(root, 0o755);
  const port = await freePort();
  const uid = Number(execFileSync('id', ['-u', 'nobody']).toString());
  const gid = Number(execFileSync('id', ['-g', 'nobody']).toString());
  const runDir = join(root, 'run');
  mkdirSync(runDir);
  // Plain passwords unless a user carries a scheme-prefixed hash (`doveadm pw`'s output, see hashedPassword).
  writeFileSync(join(root, 'passwd'), users.map((u) => `${u.name}:${u.hash ?? `{PLAIN}${u.password}`}::::::\n`).join(''));
  for (const user of users) {
    const cur = join(root, 'mail', user.name, 'cur');
    for (const dir of ['cur', 'new', 'tmp']) mkdirSync(join(root, 'mail', user.name, dir), { recursive: true });
    messages(user.name).forEach((body, i) => writeFileSync(join(cur, `${1_700_000_000 + i}.M${i}P1.bench,S=${body.length}:2,`), body));
  }
  execFileSync('chown', ['-R', `${uid}:${gid}`, join(root, 'mail')]);
  const conf = join(root, 'dovecot.conf');
  writeFileSync(
    conf,
    [
      'protocols = pop3',
      'listen = 127.0.0.1',
      `base_dir = ${runDir}`,
      `log_path = ${join(root, 'dovecot.log')}`,
      'ssl = no',
      'disable_plaintext_auth = no',
      'auth_mechanisms = plain login',
      // Maildir with the size in the file name, as Dovecot's own LDA writes it; or another MTA's maildirs
      // (options.maildirBase: <base>/<user>, e.g. Postfix's virtual delivery).
      `mail_location = maildir:${options.maildirBase ?? join(root, 'mail')}/%u`,
      `mail_uid = ${uid}`,
      `mail_gid = ${gid}`,
      'first_valid_uid = 1',
      'pop3_uidl_format = %08Xu%08Xv',
      `passdb {\n  driver = passwd-file\n  args = ${join(root, 'passwd')}\n}`,
      'userdb {\n  driver = static\n  args = uid=nobody gid=nogroup\n}',
      `service pop3-login {\n  inet_listener pop3 {\n    address = 127.0.0.1\n    port = ${port}\n  }\n  inet_listener pop3s {\n    port = 0\n  }\n}`,
      'service imap-login {\n  inet_listener imap {\n    port = 0\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}',
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/sbin/dovecot', ['-F', '-c', conf], { stdio: ['ignore', 'inherit', 'inherit'] });
  await waitForPort(port);
  return {
    port,
    pids: () => [child.pid],
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await rm(root, { recursive: true, force: true });
    },
  };
}
