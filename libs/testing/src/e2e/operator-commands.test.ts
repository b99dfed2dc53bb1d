// The operator's everyday commands against the running system, as Postfix and Dovecot users know them:
// mailctl --version, status (postfix status), queue cat (postcat), config [--changed] (postconf -n),
// mailbox stat (doveadm mailbox status), dkim add/list/remove (opendkim-genkey), and the refusal of trivial
// passwords without --force.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { MailboxStoreClient } from '@mail/contracts';
import { insecureCredentials, unary } from '@mail/platform';
import { sendOverSmtp } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { freePort } from '@mail/launcher';
import { expectCli, startSystemWithUsers, waitForMessageCount } from './helpers.js';

const ALICE = 'alice@example.test';

/** Sends one message over plain SMTP from bob@remote.test; returns its queue id. */
const send = (port: number, to: string, data: string) => sendOverSmtp(port, { from: 'bob@remote.test', to }, data);

describe('operator commands', () => {
  let system: MailSystem;

  before(async () => {
    const downPort = await freePort(); // nothing listens: mail to down.test stays in the queue
    system = await startSystemWithUsers([ALICE], {
      env: {
        SMTP_RELAY_NETWORKS: '127.0.0.1/32',
        DELIVERY_TRANSPORT_MAP: `down.test=127.0.0.1:${downPort}`,
        QUEUE_RETRY_SCHEDULE: '10m',
        MAX_MESSAGE_BYTES: '25MB',
        // Not used by the embedded store, but shown by mailctl config: its password must not be.
        MONGODB_URI: 'mongodb://mail:hunter2@127.0.0.1:1/',
      },
    });
  });
  after(async () => {
    await system?.stop();
  });

  test('mailctl --version prints its version', async () => {
    assert.equal(await expectCli(system, ['--version']), 'mailctl 0.1.0\n');
  });

  test('status: every service ready with its version and dependencies, and the queue\'s depth and oldest age', async () => {
    await send(system.smtpPort, 'someone@down.test', 'Subject: stays\r\n\r\nqueued\r\n');
    const until = Date.now() + 20_000;
    let output = await expectCli(system, ['status']);
    while (!/^queue: 1 message\(s\), oldest \d+s$/m.test(output) && Date.now() < until) output = await expectCli(system, ['status']);
    const lines = output.trimEnd().split('\n');
    assert.match(lines[0]!, /^SERVICE +STATE +VERSION +PID +UPTIME +DEPENDENCIES$/);
    const rows = Object.fromEntries(lines.slice(1, 6).map((line) => [line.split(/ +/)[0], line]));
    assert.match(rows['mailbox-store']!, /^mailbox-store +ready +0\.1\.0 +\d+ +\d+s +storage \(embedded\) ok, nats ok$/);
    assert.match(rows['queue-manager']!, /^queue-manager +ready +0\.1\.0 +\d+ +\d+s +nats ok$/);
    assert.match(rows['delivery-agent']!, /^delivery-agent +ready .* nats ok, mailbox-store ok$/);
    assert.match(rows['smtp-ingress']!, /^smtp-ingress +ready .* nats ok, mailbox-store ok$/);
    assert.match(rows['pop3-access']!, /^pop3-access +ready .* mailbox-store ok$/);
    assert.match(lines[6]!, /^queue: 1 message\(s\), oldest \d+s$/);
  });

  test('status exits 1 and says DOWN when a service is not running', async () => {
    await system.kill('pop3-access');
    try {
      const result = await system.mailctl(['status']);
      assert.equal(result.code, 1);
      assert.match(result.stdout, new RegExp(`^pop3-access +DOWN .* not running at http://127\\.0\\.0\\.1:${system.httpPorts['pop3-access']}/status$`, 'm'));
    } finally {
      await system.start('pop3-access');
    }
  });

  test('queue cat shows the envelope, then the message byte for byte', async () => {
    const data = 'Subject: to cat\r\nX-Test: 1\r\n\r\nline one\r\n..dot-stuffed line\r\n';
    const queueId = await send(system.smtpPort, 'other@down.test', data);
    const until = Date.now() + 20_000;
    let result = await system.mailctl(['queue', 'cat', queueId]);
    while (result.code !== 0 && Date.now() < until) result = await system.mailctl(['queue', 'cat', queueId]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^queue id: +${queueId}\\n`));
    assert.match(result.stdout, /^ {2}other@down\.test: pending/m);
    const contents = result.stdout.slice(result.stdout.indexOf(`*** MESSAGE CONTENTS ${queueId} ***\n`));
    assert.match(contents, /\r\nSubject: to cat\r\nX-Test: 1\r\n\r\nline one\r\n\.dot-stuffed line\r\n\*\*\* END OF MESSAGE /);
    const raw = await system.mailctl(['queue', 'cat', '--content-only', queueId]);
    assert.ok(raw.stdout.endsWith(data.replace('..dot', '.dot')), 'the accepted message, after the trace header we add');
    const missing = await system.mailctl(['queue', 'cat', 'NOSUCHID']);
    assert.deepEqual([missing.code, missing.stderr], [1, 'mailctl: no message NOSUCHID in the queue\n']);
  });

  test('config shows each service\'s settings; --changed only those given, secrets masked', async () => {
    const all = await expectCli(system, ['config', '--service', 'smtp-ingress']);
    assert.match(all, /^# smtp-ingress 0\.1\.0$/m);
    assert.match(all, /^SMTP_MAX_RECIPIENTS = 100$/m, 'a default');
    assert.match(all, /^MAX_MESSAGE_BYTES = 26214400 {3}\(given as 25MB\)$/m);
    const changed = await expectCli(system, ['config', '--changed']);
    assert.doesNotMatch(changed, /^SMTP_MAX_RECIPIENTS /m);
    assert.match(changed, /^# mailbox-store 0\.1\.0\n(?:.*\n)*MONGODB_URI = mongodb:\/\/mail:\*\*\*@127\.0\.0\.1:1\/$/m);
    assert.doesNotMatch(changed, /hunter2/);
    for (const service of ['smtp-ingress', 'queue-manager', 'delivery-agent', 'mailbox-store', 'pop3-access']) assert.match(changed, new RegExp(`^# ${service} `, 'm'));
  });

  test('mailbox stat counts a maildrop\'s messages and bytes', async () => {
    assert.match(await expectCli(system, ['mailbox', 'stat', ALICE]), /^mailbox: +alice@example\.test\nmessages: +0\nsize: +0 bytes\noldest: +-\n/);
    await send(system.smtpPort, ALICE, 'Subject: hello\r\n\r\nfor the stat\r\n');
    await waitForMessageCount(system, ALICE, 1);
    const stat = JSON.parse(await expectCli(system, ['mailbox', 'stat', ALICE, '--json'])) as { messages: number; bytes: number; oldestReceivedAt: string };
    assert.equal(stat.messages, 1);
    assert.ok(stat.bytes > 'Subject: hello\r\n\r\nfor the stat\r\n'.length, 'with the trace headers');
    assert.ok(Date.parse(stat.oldestReceivedAt) <= Date.now());
    const unknown = await system.mailctl(['mailbox', 'stat', 'nobody@example.test']);
    assert.deepEqual([unknown.code, unknown.stderr], [1, 'mailctl: no account nobody@example.test\n']);
  });

  test('dkim add makes a key and prints the record to publish; list shows it; remove forgets it', async () => {
    const added = await expectCli(system, ['dkim', 'add', 'example.test', '--selector', 'mail2026', '--algo', 'ed25519']);
    assert.match(added, /^key mail2026 \(ed25519-sha256\) added to example\.test; publish:\nmail2026\._domainkey\.example\.test\. IN TXT "v=DKIM1; k=ed25519; p=[A-Za-z0-9+\/]{43}="\n$/);
    const rsa = await expectCli(system, ['dkim', 'add', 'example.test']);
    assert.match(rsa, /^key s\d{8} \(rsa-sha256\) added to example\.test; publish:\ns\d{8}\._domainkey\.example\.test\. IN TXT "v=DKIM1; k=rsa; p=[^"]{200,}" "[^"]+"\n$/, 'a 2048-bit key takes two strings of at most 255');
    const listed = await expectCli(system, ['dkim', 'list', 'example.test']);
    assert.match(listed, /^example\.test\tmail2026\ted25519-sha256\t/m);
    assert.match(listed, /^example\.test\ts\d{8}\trsa-sha256\t/m);
    assert.doesNotMatch(listed, /PRIVATE/);
    const again = await system.mailctl(['dkim', 'add', 'example.test', '--selector', 'mail2026']);
    assert.equal(again.code, 1);
    const unknown = await system.mailctl(['dkim', 'add', 'nowhere.test']);
    assert.deepEqual([unknown.code, unknown.stderr], [1, 'mailctl: no domain nowhere.test\n']);
    assert.equal(await expectCli(system, ['dkim', 'remove', 'example.test', 'mail2026']), 'key mail2026 of example.test removed\n');
    assert.doesNotMatch(await expectCli(system, ['dkim', 'list']), /mail2026/);
  });

  test('dkim rotate adds the next key to sign from a later time; the current one signs until then', async () => {
    const store = new MailboxStoreClient(system.grpcAddress, insecureCredentials());
    try {
      const signingNow = async () => (await unary(store.getSigningKey.bind(store), { domain: 'example.test', postmaster: '' })).selector;
      const current = await signingNow();
      const rotated = await expectCli(system, ['dkim', 'rotate', 'example.test', '--selector', 'next', '--after', '2d']);
      assert.match(rotated, /^key next \(rsa-sha256\) added to example\.test; it signs from \d{4}-\d\d-\d\dT[\d:.]+Z\. Publish now:\nnext\._domainkey\.example\.test\. IN TXT "v=DKIM1; k=rsa; /);
      assert.match(rotated, new RegExp(`until then ${current} signs; some days after, once mail signed with them has been delivered: mailctl dkim remove example\\.test ${current}`));
      const signsFrom = Date.parse(/it signs from (\S+)\. /.exec(rotated)![1]!);
      assert.ok(Math.abs(signsFrom - (Date.now() + 2 * 86_400_000)) < 600_000, 'two days from now');
      assert.equal(await signingNow(), current, 'the new key waits for its time');
      const listed = await expectCli(system, ['dkim', 'list', 'example.test']);
      assert.match(listed, new RegExp(`^example\\.test\t${current}\trsa-sha256\t\\S+\tsigning since `, 'm'));
      assert.match(listed, /^example\.test\tnext\trsa-sha256\t\S+\tsigns from /m);
      // A rotation with no delay signs at once, and the one before is shown as replaced.
      await expectCli(system, ['dkim', 'rotate', 'example.test', '--selector', 'now', '--after', '0s', '--algo', 'ed25519']);
      assert.equal(await signingNow(), 'now');
      assert.match(await expectCli(system, ['dkim', 'list', 'example.test']), new RegExp(`^example\\.test\t${current}\trsa-sha256\t\\S+\treplaced$`, 'm'));
      const bad = await system.mailctl(['dkim', 'rotate', 'example.test', '--after', 'soon']);
      assert.deepEqual([bad.code, bad.stderr], [1, 'mailctl: --after: expected a duration such as 48h, 7d or 30m, not "soon"\n']);
    } finally {
      store.close();
    }
  });

  test('a trivial password is refused unless --force', async () => {
    const refused = await system.mailctl(['user', 'add', 'bob@example.test'], 'bob\n');
    assert.deepEqual([refused.code, refused.stderr], [1, 'mailctl: the password is shorter than 8 characters; choose another, or give --force to set it anyway\n']);
    assert.doesNotMatch(await expectCli(system, ['user', 'list']), /bob/);
    assert.equal(await expectCli(system, ['user', 'add', '--force', 'bob@example.test'], 'bob\n'), 'user bob@example.test added\n');
    const passwd = await system.mailctl(['user', 'passwd', 'bob@example.test'], 'bob@example.test\n');
    assert.match(passwd.stderr, /the password is the account name/);
  });
});
