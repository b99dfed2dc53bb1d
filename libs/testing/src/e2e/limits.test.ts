// The explicit limits of the SMTP and POP3 listeners, exercised over real TCP against running services
// started with small settings: line length, message size, recipients, connections, idle time,
// pipelining and the SMTP smuggling variants of the DATA terminator.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { MailboxStoreClient } from '@mail/contracts';
import { insecureCredentials, unary } from '@mail/platform';
import { RawClient } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { assertNothingDelivered, PASSWORD, startSystemWithUsers, waitForMessageCount } from './helpers.js';

const MAX_BYTES = 100_000;

async function greeted(port: number): Promise<RawClient> {
  const client = await RawClient.connect(port);
  await client.reply();
  return client;
}

describe('listener limits and hostile input', () => {
  let system: MailSystem;
  before(async () => {
    system = await startSystemWithUsers(['limits@example.test', 'smuggle@example.test', 'pipe@example.test'], {
      env: {
        MAX_MESSAGE_BYTES: String(MAX_BYTES),
        SMTP_MAX_COMMAND_LINE_BYTES: '512',
        SMTP_COMMAND_TIMEOUT_MS: '1500',
        SMTP_MAX_CONNECTIONS: '6',
        SMTP_MAX_ERRORS: '5',
        POP3_IDLE_TIMEOUT_MS: '1500',
        SMTP_RECIPIENT_CACHE_MS: '600000',
      },
    });
  });
  after(async () => {
    await system?.stop();
  });

  test('a command line over the limit is answered 500 5.5.2 and the session goes on', async () => {
    const client = await greeted(system.smtpPort);
    assert.match(await client.command(`EHLO ${'a'.repeat(600)}`), /^500 5\.5\.2 Line too long/);
    assert.match(await client.command('EHLO ok.test'), /^250-/);
    // A line of 1 MB with no end in sight is discarded as it streams, not buffered.
    client.send('NOOP ' + 'x'.repeat(1024 * 1024));
    client.send('\r\n');
    assert.match(await client.reply(), /^500 5\.5\.2/);
    assert.match(await client.command('NOOP'), /^250 2\.0\.0/);
    client.close();
  });

  test('a recipient found to exist is believed for SMTP_RECIPIENT_CACHE_MS; an unknown one is asked every time', async () => {
    const rcpt = async (address: string) => {
      const client = await greeted(system.smtpPort);
      await client.command('EHLO ok.test');
      await client.command('MAIL FROM:<a@remote.test>');
      const reply = await client.command(`RCPT TO:<${address}>`);
      client.close();
      return reply;
    };
    assert.match(await rcpt('late@example.test'), /^550 5\.1\.1/);
    assert.equal((await system.mailctl(['user', 'add', 'late@example.test'], `${PASSWORD}\n`)).code, 0);
    assert.match(await rcpt('late@example.test'), /^250 /, 'a new mailbox is accepted at once: refusals are not cached');
    assert.equal((await system.mailctl(['user', 'remove', 'late@example.test'])).code, 0);
    assert.match(await rcpt('late@example.test'), /^250 /, 'within the cache time the removed mailbox is still believed (its mail bounces at delivery)');
  });

  test('SIZE over the limit is refused at MAIL with 552 5.3.4', async () => {
    const client = await greeted(system.smtpPort);
    await client.command('EHLO ok.test');
    assert.match(await client.command(`MAIL FROM:<a@remote.test> SIZE=${MAX_BYTES + 1}`), /^552 5\.3\.4/);
    assert.match(await client.command(`MAIL FROM:<a@remote.test> SIZE=${MAX_BYTES}`), /^250 2\.1\.0/);
    client.close();
  });

  test('DATA over the limit is read to its end, refused with 552 5.3.4, and the session goes on', async () => {
    const client = await greeted(system.smtpPort);
    await client.command('EHLO ok.test');
    await client.command('MAIL FROM:<a@remote.test>');
    await client.command('RCPT TO:<limits@example.test>');
    assert.match(await client.command('DATA'), /^354/);
    const line = 'y'.repeat(998) + '\r\n';
    for (let i = 0; i < 300; i++) client.send(line); // 300 KB, three times the limit
    client.send('.\r\n');
    assert.match(await client.reply(), /^552 5\.3\.4/);
    assert.match(await client.command('NOOP'), /^250/);
    client.close();
  });

  test('the 101st recipient is answered 452 4.5.3 and the first 100 are kept', async () => {
    const store = new MailboxStoreClient(system.grpcAddress, insecureCredentials());
    const users = Array.from({ length: 101 }, (_, i) => `r${i}@example.test`);
    // A few at a time: each AddUser hashes a password, and 101 at once left the last ones waiting past
    // their gRPC deadline behind the others on a loaded machine.
    for (let i = 0; i < users.length; i += 8) {
      await Promise.all(users.slice(i, i + 8).map((address) => unary(store.addUser.bind(store), { address, password: PASSWORD })));
    }
    store.close();
    const client = await greeted(system.smtpPort);
    await client.command('EHLO ok.test');
    await client.command('MAIL FROM:<a@remote.test>');
    // Pipelined (RFC 2920): all RCPTs in one write, the answers in order.
    client.send(users.map((u) => `RCPT TO:<${u}>\r\n`).join(''));
    for (let i = 0; i < 100; i++) assert.match(await client.reply(), /^250 2\.1\.5/, `recipient ${i}`);
    assert.match(await client.reply(), /^452 4\.5\.3/);
    assert.match(await client.command('DATA'), /^354/);
    client.send('Subject: to 100\r\n\r\nx\r\n.\r\n');
    assert.match(await client.reply(), /^250 2\.0\.0 OK: queued as /);
    client.close();
    await waitForMessageCount(system, 'r99@example.test', 1);
  });

  test('pipelined MAIL, RCPT and DATA in one write are answered in order and the message arrives', async () => {
    const client = await greeted(system.smtpPort);
    client.send('EHLO pipe.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<pipe@example.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n');
    assert.match(await client.reply(), /^250-/);
    assert.match(await client.reply(), /^250 2\.1\.0/);
    assert.match(await client.reply(), /^250 2\.1\.5/);
    assert.match(await client.reply(), /^550 5\.1\.1/);
    assert.match(await client.reply(), /^354/);
    // The data, its terminator and the next commands in one write too.
    client.send('Subject: pipelined\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n');
    assert.match(await client.reply(), /^250 2\.0\.0 OK: queued as /);
    assert.match(await client.reply(), /^250 2\.0\.0/);
    assert.match(await client.reply(), /^221/);
    await waitForMessageCount(system, 'pipe@example.test', 1);
  });

  test('SMTP smuggling: bare LF or CR around a dot never ends DATA, and such data is refused', async () => {
    const client = await greeted(system.smtpPort);
    await client.command('EHLO smuggler.test');
    await client.command('MAIL FROM:<a@remote.test>');
    await client.command('RCPT TO:<smuggle@example.test>');
    assert.match(await client.command('DATA'), /^354/);
    // Each of these would end DATA on a lenient server and start a second, smuggled transaction.
    client.send(
      'Subject: smuggle\r\n\r\nhello\n.\nMAIL FROM:<evil@remote.test>\r\n' +
        'x\r\n.\nRCPT TO:<smuggle@example.test>\r\n' +
        'y\n.\r\nDATA\r\n' +
        'z\r.\rQUIT\r\n' +
        '.\r\n',
    );
    // One reply only, for the one real terminator: the message, refused for its bare line endings.
    assert.match(await client.reply(), /^550 5\.5\.2 Bare <CR> or <LF>/);
    assert.match(await client.command('NOOP'), /^250 2\.0\.0/);
    client.close();
    await assertNothingDelivered(system, 'smuggle@example.test');
  });

  test('an idle SMTP session is closed with 421 4.4.2 after the command timeout', async () => {
    const client = await greeted(system.smtpPort);
    assert.match(await client.reply(5000), /^421 4\.4\.2/);
    assert.equal(await client.waitClosed(), true);
  });

  test('connections over the limit are answered 421 and closed; the others keep working', async () => {
    const held = [];
    for (let i = 0; i < 6; i++) held.push(await greeted(system.smtpPort));
    const extra = await RawClient.connect(system.smtpPort);
    assert.match(await extra.reply(), /^421 4\.7\.0/);
    assert.equal(await extra.waitClosed(), true);
    assert.match(await held[0]!.command('NOOP'), /^250/);
    for (const client of held) client.close();
    await new Promise((r) => setTimeout(r, 200));
    const again = await greeted(system.smtpPort);
    assert.match(await again.command('NOOP'), /^250/);
    again.close();
  });

  test('too many errors end the session with 421', async () => {
    const client = await greeted(system.smtpPort);
    for (let i = 0; i < 4; i++) assert.match(await client.command('BOGUS'), /^500/);
    assert.match(await client.command('BOGUS'), /^421 4\.7\.0/);
    assert.equal(await client.waitClosed(), true);
  });

  test('NUL bytes and invalid UTF-8 get an error, not a crash', async () => {
    const client = await greeted(system.smtpPort);
    client.send(Buffer.from([0x00, 0xff, 0xfe, 0x0d, 0x0a]));
    assert.match(await client.reply(), /^500 5\.5\.2/);
    client.send(Buffer.concat([Buffer.from('EHLO '), Buffer.from([0xc3, 0x28]), Buffer.from('\r\n')]));
    assert.match(await client.reply(), /^(250|501)/);
    assert.match(await client.command('NOOP'), /^250/);
    client.close();
  });

  test('an idle POP3 session is closed after the autologout timer and its lock released', async () => {
    const client = await greeted(system.pop3Port);
    await client.command('USER limits@example.test');
    assert.match(await client.command(`PASS ${PASSWORD}`), /^\+OK/);
    assert.match(await client.reply(5000), /^-ERR Autologout/);
    assert.equal(await client.waitClosed(), true);
    // The lock is free again.
    const next = await greeted(system.pop3Port);
    await next.command('USER limits@example.test');
    assert.match(await next.command(`PASS ${PASSWORD}`), /^\+OK/);
    next.close();
  });

  test('a POP3 command line over the limit gets -ERR and the session goes on', async () => {
    const client = await greeted(system.pop3Port);
    assert.match(await client.command(`USER ${'u'.repeat(5000)}`), /^-ERR Line too long/);
    assert.match(await client.command('CAPA'), /^\+OK/);
    const capabilities = await client.multiline();
    assert.match(capabilities, /^UIDL\r$/m);
    assert.match(capabilities, /^TOP\r$/m);
    client.close();
  });
});
