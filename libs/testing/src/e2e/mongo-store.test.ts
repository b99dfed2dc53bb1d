// The mail path on the MongoDB backend, whatever E2E_STORE says, so that CI always exercises it: SMTP in,
// POP3 out through mailbox-store on MongoDB (FerretDB locally), and the maildrop lock held across two
// mailbox-store replicas over the same database, each with its own pop3-access in front.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { poplibFetch, RawClient, smtplibSend } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { freePort } from '@mail/launcher';
import { PASSWORD, splitTrace, startSystemWithUsers, waitForMessageCount } from './helpers.js';

const crlf = (text: string) => Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8');

describe('the mail path on the MongoDB backend', () => {
  let system: MailSystem;
  /** A second mailbox-store on the same database, and a pop3-access that talks to it. */
  let replicaPop3Port: number;
  before(async () => {
    system = await startSystemWithUsers(['alice@example.test', 'bob@example.test'], { store: 'mongo' });
    const storeGrpcPort = await freePort();
    const storeHttpPort = await freePort();
    await system.startReplica('mailbox-store', { MAILBOX_GRPC_PORT: String(storeGrpcPort), MAILBOX_HTTP_PORT: String(storeHttpPort) }, storeHttpPort);
    replicaPop3Port = await freePort();
    const pop3HttpPort = await freePort();
    await system.startReplica(
      'pop3-access',
      { MAILBOX_STORE_ADDRESS: `127.0.0.1:${storeGrpcPort}`, POP3_PORT: String(replicaPop3Port), POP3S_PORT: 'off', POP3_HTTP_PORT: String(pop3HttpPort) },
      pop3HttpPort,
    );
  });
  after(async () => {
    await system?.stop();
  });

  test('mailbox-store runs on MongoDB', () => {
    assert.equal(system.env.MAIL_STORE, 'mongo');
    assert.ok(system.mongo);
  });

  test('a message sent by SMTP is fetched by POP3 byte for byte, then deleted', async () => {
    const data = crlf('From: sender@remote.test\nTo: alice@example.test\nSubject: on mongo\n\nHello from MongoDB.\n');
    const [result] = await smtplibSend(system.smtpPort, [{ from: 'sender@remote.test', to: ['alice@example.test'], data }]);
    assert.equal(result!.ok, true, JSON.stringify(result));
    await waitForMessageCount(system, 'alice@example.test', 1);
    const fetched = await poplibFetch(system.pop3Port, 'alice@example.test', PASSWORD, { delete: true });
    assert.equal(fetched.error, '');
    assert.equal(fetched.messages.length, 1);
    assert.equal(fetched.list[0]![1], fetched.messages[0]!.length);
    assert.deepEqual(splitTrace(fetched.messages[0]!).original, data);
    const after = await poplibFetch(system.pop3Port, 'alice@example.test', PASSWORD);
    assert.equal(after.messages.length, 0);
  });

  test('a 3 MB message (stored in GridFS) arrives intact, and the other replica serves it too', async () => {
    const body = randomBytes(2_300_000).toString('base64').replace(/.{76}/g, '$&\n');
    const data = crlf(`From: sender@remote.test\nTo: bob@example.test\nSubject: big\n\n${body}\n`);
    const [result] = await smtplibSend(system.smtpPort, [{ from: 'sender@remote.test', to: ['bob@example.test'], data }]);
    assert.equal(result!.ok, true, JSON.stringify(result));
    await waitForMessageCount(system, 'bob@example.test', 1);
    const viaReplica = await poplibFetch(replicaPop3Port, 'bob@example.test', PASSWORD);
    assert.equal(viaReplica.error, '');
    assert.ok(splitTrace(viaReplica.messages[0]!).original.equals(data));
    const fetched = await poplibFetch(system.pop3Port, 'bob@example.test', PASSWORD, { delete: true });
    assert.ok(splitTrace(fetched.messages[0]!).original.equals(data));
  });

  test('POP3 on two mailbox-store replicas: a maildrop locked through one is refused -ERR [IN-USE] through the other', async () => {
    const first = await RawClient.connect(system.pop3Port);
    await first.reply();
    await first.command('USER alice@example.test');
    assert.match(await first.command(`PASS ${PASSWORD}`), /^\+OK/);

    const second = await RawClient.connect(replicaPop3Port);
    await second.reply();
    await second.command('USER alice@example.test');
    assert.match(await second.command(`PASS ${PASSWORD}`), /^-ERR \[IN-USE\]/);
    second.close();

    assert.match(await first.command('QUIT'), /^\+OK/);
    first.close();
    // Released at QUIT: the other replica grants it now.
    const third = await RawClient.connect(replicaPop3Port);
    await third.reply();
    await third.command('USER alice@example.test');
    assert.match(await third.command(`PASS ${PASSWORD}`), /^\+OK/);
    assert.match(await third.command('QUIT'), /^\+OK/);
    third.close();
  });
});
