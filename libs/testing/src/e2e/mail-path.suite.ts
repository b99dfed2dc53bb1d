// SMTP in, POP3 out, through the five real services, driven by independent clients
// (Python's smtplib and poplib, swaks, mpop). Round trips are byte-exact apart from the trace headers.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { poplibFetch, RawClient, smtplibSend } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { PASSWORD, splitTrace, startSystemWithUsers, waitForEmptyQueue, waitForMessageCount } from './helpers.js';

const crlf = (text: string) => Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8');

/** The suite, on the given mailbox-store backend (mail-path.test.ts and mail-path-mongo.test.ts run it). */
export function mailPathSuite(store: 'embedded' | 'mongo'): void {
  describe(`the mail path, SMTP in and POP3 out (${store} store)`, () => {
    let system: MailSystem;
    before(async () => {
      system = await startSystemWithUsers([
        'alice@example.test',
        'bob@example.test',
        'carol@example.test',
        'dave@example.test',
        'erin@example.test',
        'frank@example.test',
        'grace@example.test',
        'heidi@example.test',
        'josé@example.test',
      ], { store });
    });
    after(async () => {
      await system?.stop();
    });

    /** Sends one message with smtplib, waits for it and returns what poplib retrieved (deleting it). */
    async function roundTrip(to: string, data: Buffer, mailOptions: string[] = [], from = 'sender@remote.test') {
      const [result] = await smtplibSend(system.smtpPort, [{ from, to: [to], data, mailOptions }]);
      assert.equal(result!.ok, true, JSON.stringify(result));
      await waitForMessageCount(system, to, 1);
      const fetched = await poplibFetch(system.pop3Port, to, PASSWORD, { delete: true });
      assert.equal(fetched.error, '');
      assert.equal(fetched.messages.length, 1);
      // LIST gives the exact size of what RETR sends (CRLF counted, stuffing not).
      assert.equal(fetched.list[0]![1], fetched.messages[0]!.length);
      return { fetched, parts: splitTrace(fetched.messages[0]!) };
    }

    test('a plain ASCII message arrives byte for byte, with Return-Path and Received added', async () => {
      const data = crlf('From: sender@remote.test\nTo: alice@example.test\nSubject: plain\n\nHello Alice.\nSecond line.\n');
      const { parts } = await roundTrip('alice@example.test', data);
      assert.equal(parts.returnPath, 'sender@remote.test');
      assert.match(parts.received, /^Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test\.local \(mailplatform\) with ESMTP id [0-9A-Z]{20}\r\n\tfor <alice@example\.test>;\r\n\t\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n$/);
      assert.deepEqual(parts.original, data);
    });

    test('8-bit UTF-8 content and a UTF-8 address with SMTPUTF8 arrive intact', async () => {
      const data = crlf('From: Zoë <zoë@remote.test>\nTo: josé@example.test\nSubject: déjà vu — ünïcödé\n\nΚαλημέρα, 日本語, emoji 📬.\n');
      const { parts } = await roundTrip('josé@example.test', data, ['SMTPUTF8'], 'zoë@remote.test');
      assert.equal(Buffer.from(parts.returnPath, 'latin1').toString('utf8'), 'zoë@remote.test');
      assert.match(parts.received, /with UTF8SMTP id/);
      assert.deepEqual(parts.original, data);
    });

    test('a MIME multipart message with a base64 binary attachment arrives intact', async () => {
      const attachment = randomBytes(30_000).toString('base64').replace(/.{76}/g, '$&\n');
      const data = crlf(
        'From: sender@remote.test\nTo: bob@example.test\nSubject: attachment\nMIME-Version: 1.0\n' +
          'Content-Type: multipart/mixed; boundary="b1"\n\npreamble\n--b1\nContent-Type: text/plain; charset=utf-8\n\nSee attached.\n' +
          `--b1\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="data.bin"\n\n${attachment}\n--b1--\nepilogue\n`,
      );
      const { parts } = await roundTrip('bob@example.test', data);
      assert.deepEqual(parts.original, data);
    });

    test('lines that start with a dot survive dot-stuffing both ways', async () => {
      const data = crlf('Subject: dots\n\n.\n..\n.leading\n...three\n. space\nend\n');
      const { parts } = await roundTrip('carol@example.test', data);
      assert.deepEqual(parts.original, data);
    });

    test('a 5 MB message arrives intact', async () => {
      const line = 'x'.repeat(76);
      const body = Array.from({ length: Math.ceil((5 * 1024 * 1024) / 78) }, (_, i) => `${i} ${line}`.slice(0, 76)).join('\n');
      const data = crlf(`Subject: big\n\n${body}\n`);
      assert.ok(data.length >= 5 * 1024 * 1024);
      const { parts } = await roundTrip('dave@example.test', data);
      assert.equal(parts.original.length, data.length);
      assert.ok(parts.original.equals(data));
    });

    test('several messages in one SMTP session all arrive, in order, each once', async () => {
      const messages = [1, 2, 3, 4, 5].map((n) => ({
        from: 'sender@remote.test',
        to: ['erin@example.test'],
        data: crlf(`Subject: message ${n}\n\nbody ${n}\n`),
      }));
      const results = await smtplibSend(system.smtpPort, messages);
      assert.deepEqual(results.map((r) => r.ok), [true, true, true, true, true]);
      await waitForMessageCount(system, 'erin@example.test', 5);
      const fetched = await poplibFetch(system.pop3Port, 'erin@example.test', PASSWORD);
      assert.equal(fetched.messages.length, 5);
      const subjects = fetched.messages.map((m) => /Subject: (.*)\r\n/.exec(m.toString())![1]).sort();
      assert.deepEqual(subjects, ['message 1', 'message 2', 'message 3', 'message 4', 'message 5']);
      // UIDLs are unique and stable across sessions.
      assert.equal(new Set(fetched.uidl.map(([, uid]) => uid)).size, 5);
      const again = await poplibFetch(system.pop3Port, 'erin@example.test', PASSWORD);
      assert.deepEqual(again.uidl, fetched.uidl);
    });

    test('one message to several recipients (one named twice) reaches each exactly once', async () => {
      const data = crlf('Subject: to many\n\nfor all of you\n');
      const [result] = await smtplibSend(system.smtpPort, [
        { from: 'sender@remote.test', to: ['frank@example.test', 'grace@example.test', 'FRANK@example.test', 'heidi@example.test'], data },
      ]);
      assert.equal(result!.ok, true);
      for (const user of ['frank@example.test', 'grace@example.test', 'heidi@example.test']) {
        await waitForMessageCount(system, user, 1);
      }
      await waitForEmptyQueue(system); // nothing left to deliver: a duplicate would be here now
      for (const user of ['frank@example.test', 'grace@example.test', 'heidi@example.test']) {
        const fetched = await poplibFetch(system.pop3Port, user, PASSWORD, { delete: true });
        assert.equal(fetched.messages.length, 1, user);
        assert.deepEqual(splitTrace(fetched.messages[0]!).original, data);
        // With several recipients, Received names none of them.
        assert.doesNotMatch(splitTrace(fetched.messages[0]!).received, /\bfor </);
      }
    });

    test('an unknown local user is refused with 550 5.1.1', async () => {
      const [result] = await smtplibSend(system.smtpPort, [{ from: 'a@remote.test', to: ['nobody@example.test'], data: crlf('Subject: x\n\nx\n') }]);
      assert.equal(result!.ok, false);
      assert.equal(result!.refused['nobody@example.test']![0], 550);
      assert.match(result!.refused['nobody@example.test']![1], /^5\.1\.1 /);
    });

    test('relaying to a domain that is not local is refused with 550 5.7.1', async () => {
      const [result] = await smtplibSend(system.smtpPort, [{ from: 'a@remote.test', to: ['someone@elsewhere.test'], data: crlf('Subject: x\n\nx\n') }]);
      assert.equal(result!.ok, false);
      assert.equal(result!.refused['someone@elsewhere.test']![0], 550);
      assert.match(result!.refused['someone@elsewhere.test']![1], /^5\.7\.1 /);
    });

    test('a message with more than 100 Received headers is refused as a loop with 554 5.4.6', async () => {
      const hops = Array.from({ length: 101 }, (_, i) => `Received: from hop${i}.test by hop${i + 1}.test; Sun, 29 Nov 2026 10:00:00 +0000\n`).join('');
      const [looping] = await smtplibSend(system.smtpPort, [{ from: 'a@remote.test', to: ['alice@example.test'], data: crlf(`${hops}Subject: loop\n\nx\n`) }]);
      assert.equal(looping!.code, 554);
      assert.match(looping!.text, /^5\.4\.6 /);
      const hundred = hops.split('\n').slice(1).join('\n');
      const [fine] = await smtplibSend(system.smtpPort, [{ from: 'a@remote.test', to: ['alice@example.test'], data: crlf(`${hundred}Subject: long path\n\nx\n`) }]);
      assert.equal(fine!.ok, true);
      await waitForMessageCount(system, 'alice@example.test', 1);
      await poplibFetch(system.pop3Port, 'alice@example.test', PASSWORD, { delete: true });
    });

    test('postmaster of a local domain and the bare <postmaster> are always accepted', async () => {
      const client = await RawClient.connect(system.smtpPort);
      await client.reply();
      await client.command('EHLO client.test');
      assert.match(await client.command('MAIL FROM:<>'), /^250 2\.1\.0/);
      assert.match(await client.command('RCPT TO:<postmaster@example.test>'), /^250 2\.1\.5/);
      assert.match(await client.command('RCPT TO:<Postmaster>'), /^250 2\.1\.5/);
      assert.match(await client.command('QUIT'), /^221 2\.0\.0/);
      client.close();
    });

    test('sequencing errors are answered 503 and the session goes on', async () => {
      const client = await RawClient.connect(system.smtpPort);
      assert.match(await client.reply(), /^220 mx\.test\.local ESMTP/);
      assert.match(await client.command('MAIL FROM:<a@remote.test>'), /^503 5\.5\.1 /);
      await client.command('EHLO client.test');
      assert.match(await client.command('RCPT TO:<alice@example.test>'), /^503 5\.5\.1 /);
      assert.match(await client.command('DATA'), /^503 5\.5\.1 /);
      assert.match(await client.command('MAIL FROM:<a@remote.test>'), /^250 /);
      assert.match(await client.command('MAIL FROM:<a@remote.test>'), /^503 5\.5\.1 /);
      assert.match(await client.command('DATA'), /^503 5\.5\.1 /);
      assert.match(await client.command('FOO bar'), /^500 5\.5\.2 /);
      assert.match(await client.command('NOOP'), /^250 2\.0\.0/);
      assert.match(await client.command('QUIT'), /^221 /);
      assert.equal(await client.waitClosed(), true);
    });

    test('POP3: a dropped connection deletes nothing; QUIT commits the deletions', async () => {
      const data = crlf('Subject: keep me\n\nuntil QUIT\n');
      await smtplibSend(system.smtpPort, [{ from: 'a@remote.test', to: ['alice@example.test'], data }]);
      await waitForMessageCount(system, 'alice@example.test', 1);
      const dropped = await poplibFetch(system.pop3Port, 'alice@example.test', PASSWORD, { delete: true, end: 'drop' });
      assert.equal(dropped.messages.length, 1);
      // The lock is released when the connection drops, so the next session gets in at once.
      const afterDrop = await poplibFetch(system.pop3Port, 'alice@example.test', PASSWORD, { delete: true, end: 'quit' });
      assert.equal(afterDrop.messages.length, 1, 'still there after the drop');
      const afterQuit = await poplibFetch(system.pop3Port, 'alice@example.test', PASSWORD);
      assert.equal(afterQuit.messages.length, 0, 'gone after QUIT');
    });

    test('POP3: a second session on a locked maildrop is refused with -ERR [IN-USE]', async () => {
      const first = await RawClient.connect(system.pop3Port);
      await first.reply();
      await first.command('USER bob@example.test');
      assert.match(await first.command(`PASS ${PASSWORD}`), /^\+OK/);
      const second = await RawClient.connect(system.pop3Port);
      await second.reply();
      await second.command('USER bob@example.test');
      assert.match(await second.command(`PASS ${PASSWORD}`), /^-ERR \[IN-USE\]/);
      assert.match(await first.command('QUIT'), /^\+OK/);
      second.close();
    });

    test('POP3: an unknown user and a wrong password get the same -ERR', async () => {
      const replies = [];
      for (const [user, password] of [['nobody@example.test', PASSWORD], ['bob@example.test', 'wrong']] as const) {
        const client = await RawClient.connect(system.pop3Port);
        await client.reply();
        assert.match(await client.command(`USER ${user}`), /^\+OK/);
        replies.push(await client.command(`PASS ${password}`));
        client.close();
      }
      assert.match(replies[0]!, /^-ERR/);
      assert.equal(replies[0], replies[1]);
    });
  });
}
