// The mail path with the Debian mail tools people actually run: swaks sends, mpop and fetchmail fetch.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MailSystem } from '../mail-system.js';
import { temporaryDirectory } from '../temporary-directories.js';
import { messageCount, PASSWORD, splitTrace, startSystemWithUsers, waitForMessageCount } from './helpers.js';

const has = (tool: string) =>
  new Promise<boolean>((resolve) => execFile('sh', ['-c', `command -v ${tool}`], (error) => resolve(!error)));

function run(command: string, args: string[], options: { cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(command, args, { timeout: 60_000, cwd: options.cwd }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

const message = (subject: string) =>
  Buffer.from(`From: sender@remote.test\r\nTo: you@example.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@remote.test>\r\n\r\n.dot line\r\nbody of ${subject}\r\n`);

const [swaks, mpop, fetchmail] = await Promise.all([has('swaks'), has('mpop'), has('fetchmail')]);

describe('independent Debian clients', () => {
  let system: MailSystem;
  let work: string;
  before(async () => {
    work = await temporaryDirectory('mail-clients-');
    if (swaks || mpop || fetchmail) system = await startSystemWithUsers(['mpop@example.test', 'fetchmail@example.test']);
  });
  after(async () => {
    await system?.stop();
  });

  async function sendWithSwaks(to: string, data: Buffer): Promise<string> {
    const file = join(work, `${to}.eml`);
    // swaks ends the last line itself: give it the message without its final CRLF.
    await writeFile(file, data.subarray(0, data.length - 2));
    const result = await run('swaks', ['--server', `127.0.0.1:${system.smtpPort}`, '--ehlo', 'swaks.test', '--from', 'sender@remote.test', '--to', to, '--data', `@${file}`]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    return result.stdout;
  }

  test('swaks sends and mpop fetches into a maildir, byte for byte', { skip: !(swaks && mpop) && 'swaks or mpop missing' }, async () => {
    const data = message('mpop');
    const transcript = await sendWithSwaks('mpop@example.test', data);
    assert.match(transcript, /<- {2}250 2\.0\.0 OK: queued as [0-9A-Z]{20}/);
    await waitForMessageCount(system, 'mpop@example.test', 1);
    const maildir = join(work, 'maildir');
    for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(maildir, sub), { recursive: true });
    const passwordFile = join(work, 'mpop-password');
    await writeFile(passwordFile, PASSWORD);
    const result = await run('mpop', [
      '--host=127.0.0.1',
      `--port=${system.pop3Port}`,
      '--tls=off',
      '--auth=user',
      '--user=mpop@example.test',
      `--passwordeval=cat ${passwordFile}`,
      `--delivery=maildir,${maildir}`,
      `--uidls-file=${join(work, 'mpop-uidls')}`,
      '--keep=off',
      '--received-header=off',
    ]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const files = await readdir(join(maildir, 'new'));
    assert.equal(files.length, 1);
    const delivered = await readFile(join(maildir, 'new', files[0]!));
    // mpop writes LF line endings into a maildir, as maildirs hold them.
    const expected = Buffer.from(data.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    const parts = splitTrace(Buffer.from(delivered.toString('latin1').replace(/\n/g, '\r\n'), 'latin1'));
    assert.equal(parts.returnPath, 'sender@remote.test');
    assert.deepEqual(Buffer.from(parts.original.toString('latin1').replace(/\r\n/g, '\n'), 'latin1'), expected);
    // --keep=off: mpop deleted it on the server (its QUIT was answered before it exited).
    assert.equal(await messageCount(system, 'mpop@example.test'), 0);
  });

  test('swaks sends and fetchmail fetches through an MDA, byte for byte', { skip: !(swaks && fetchmail) && 'swaks or fetchmail missing' }, async () => {
    const data = message('fetchmail');
    await sendWithSwaks('fetchmail@example.test', data);
    await waitForMessageCount(system, 'fetchmail@example.test', 1);
    const out = join(work, 'fetchmail-out');
    await mkdir(out, { recursive: true });
    const rc = join(work, 'fetchmailrc');
    await writeFile(
      rc,
      `set no syslog\nset no bouncemail\nset invisible\npoll 127.0.0.1 with proto POP3 port ${system.pop3Port} auth password\n` +
        `  user "fetchmail@example.test" there with password "${PASSWORD}" is "${process.env.USER ?? 'root'}" here\n` +
        `  mda "/bin/sh -c 'cat > ${out}/message.eml'"\n  no keep fetchall sslproto ''\n`,
    );
    await chmod(rc, 0o600);
    const result = await run('fetchmail', ['-f', rc, '--nodetach', '--pidfile', join(work, 'fetchmail.pid')], { cwd: work });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const delivered = await readFile(join(out, 'message.eml'));
    // fetchmail hands the MDA LF line endings.
    const parts = splitTrace(Buffer.from(delivered.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'));
    assert.equal(parts.returnPath, 'sender@remote.test');
    assert.deepEqual(parts.original, data);
    assert.equal(await messageCount(system, 'fetchmail@example.test'), 0);
  });
});
