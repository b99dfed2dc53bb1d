// Graceful shutdown on SIGTERM (a rolling update). smtp-ingress: idle sessions are told 421 at once, a
// session in the middle of DATA finishes (its 250 holds: the message arrives) and then gets 421, new
// connections get 421, and the process exits cleanly; no accepted message is lost. pop3-access: each
// session is told -ERR [SYS/TEMP] (inside TLS after STLS), and one that never said QUIT deletes nothing;
// a QUIT that mailbox-store cannot carry out (it is away) is answered -ERR, deletes nothing, and is logged.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { poplibFetch, RawClient } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { PASSWORD, startSystemWithUsers, waitForMessageCount } from './helpers.js';

/** A POP3 session logged in as drain@example.test that has marked message 1 deleted (not yet QUIT). */
async function loggedInWithFirstDeleted(port: number): Promise<RawClient> {
  const client = await RawClient.connect(port);
  assert.match(await client.reply(), /^\+OK/);
  assert.match(await client.command('USER drain@example.test'), /^\+OK/);
  assert.match(await client.command(`PASS ${PASSWORD}`), /^\+OK/);
  assert.match(await client.command('DELE 1'), /^\+OK/);
  return client;
}

describe('graceful shutdown of smtp-ingress and pop3-access', () => {
  let system: MailSystem;
  before(async () => {
    system = await startSystemWithUsers(['drain@example.test'], { env: { SMTP_SHUTDOWN_GRACE_MS: '10000' } });
  });
  after(async () => {
    await system?.stop();
  });

  test('SIGTERM: idle sessions get 421, the one in DATA finishes with 250 then 421, new ones get 421; the message arrives', async () => {
    const idle = await RawClient.connect(system.smtpPort);
    await idle.reply();
    await idle.command('EHLO idle.test');
    const busy = await RawClient.connect(system.smtpPort);
    await busy.reply();
    await busy.command('EHLO busy.test');
    await busy.command('MAIL FROM:<a@remote.test>');
    await busy.command('RCPT TO:<drain@example.test>');
    assert.match(await busy.command('DATA'), /^354/);
    busy.send('Subject: in flight\r\n\r\nfirst half\r\n');

    const ingress = system.services['smtp-ingress'];
    ingress.child.kill('SIGTERM');
    assert.match(await idle.reply(), /^421 4\.3\.2 /);
    assert.equal(await idle.waitClosed(), true);

    // Still listening while it drains (the session in DATA holds the listener open until it ends or the
    // grace runs out): the newcomer is told to come back later.
    const late = await RawClient.connect(system.smtpPort);
    assert.match(await late.reply(), /^421 4\.3\.2 /);
    assert.equal(await late.waitClosed(), true);

    busy.send('second half\r\n.\r\n');
    assert.match(await busy.reply(), /^250 2\.0\.0 OK: queued as /);
    assert.match(await busy.reply(), /^421 4\.3\.2 /);
    assert.equal(await busy.waitClosed(), true);

    assert.equal(await ingress.exited, 0, 'a clean exit');
    await waitForMessageCount(system, 'drain@example.test', 1);
    const fetched = await poplibFetch(system.pop3Port, 'drain@example.test', PASSWORD);
    assert.match(fetched.messages[0]!.toString(), /first half\r\nsecond half\r\n$/);
  });

  test('SIGTERM of pop3-access: sessions, plain or after STLS, get -ERR [SYS/TEMP]; a DELE without QUIT deletes nothing', async () => {
    const plain = await loggedInWithFirstDeleted(system.pop3Port);
    const secure = await RawClient.connect(system.pop3Port);
    assert.match(await secure.reply(), /^\+OK/);
    assert.match(await secure.command('STLS'), /^\+OK/);
    await secure.upgrade({ rejectUnauthorized: false });
    assert.match(await secure.command('USER drain@example.test'), /^\+OK/);

    const pop3 = system.services['pop3-access'];
    pop3.child.kill('SIGTERM');
    for (const client of [plain, secure]) {
      assert.match(await client.reply(), /^-ERR \[SYS\/TEMP\] Server shutting down/);
      assert.equal(await client.waitClosed(), true);
    }
    assert.equal(await pop3.exited, 0, 'a clean exit');
    await system.start('pop3-access');
    assert.equal(await waitForMessageCount(system, 'drain@example.test', 1), 1);
  });

  test('QUIT while mailbox-store is away: -ERR, nothing deleted, and pop3-access logs why', async () => {
    const client = await loggedInWithFirstDeleted(system.pop3Port);
    await system.kill('mailbox-store');
    assert.match(await client.command('QUIT'), /^-ERR Some deleted messages not removed/);
    assert.equal(await client.waitClosed(), true);
    const logged = system.services['pop3-access'].output().split('\n').find((line) => line.includes('"event":"update-failed"'));
    assert.ok(logged, 'pop3-access logs the failed UPDATE');
    assert.match(logged, /"mailbox":"drain@example.test".*"deletions":1/);
    await system.start('mailbox-store');
    // Counted by mailctl: the lease of the session that failed still holds the maildrop for POP3 until it lapses.
    const stat = await system.mailctl(['mailbox', 'stat', 'drain@example.test']);
    assert.match(stat.stdout, /^messages:\s+1$/m, 'the message is still there');
  });
});
