// postmaster@<domain> (RFC 5321 §4.5.1) through the whole system: it reaches the account named for the
// domain (mailctl domain add --postmaster, or the first user added), a domain without one uses the
// site's postmaster, and mail accepted while no postmaster account exists waits until one does.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { poplibFetch, smtplibSend } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { assertNothingDelivered, expectCli, PASSWORD, startSystemWithUsers, waitForMessageCount } from './helpers.js';

describe('postmaster of each domain', () => {
  let system: MailSystem;
  before(async () => {
    system = await startSystemWithUsers([]);
  });
  after(async () => {
    await system?.stop();
  });

  const send = async (to: string, subject: string) => {
    const [result] = await smtplibSend(system.smtpPort, [{ from: 'someone@remote.test', to: [to], data: Buffer.from(`Subject: ${subject}\r\n\r\nx\r\n`) }]);
    assert.equal(result!.ok, true, `${to}: ${JSON.stringify(result)}`);
  };
  /** The subjects in a maildrop, once it holds `count` messages (none: once nothing is left to deliver). */
  const subjects = async (user: string, count: number) => {
    if (count === 0) await assertNothingDelivered(system, user);
    else await waitForMessageCount(system, user, count);
    const fetched = await poplibFetch(system.pop3Port, user, PASSWORD);
    return fetched.messages.map((m) => /^Subject: (.*)\r$/m.exec(m.toString('latin1'))?.[1]).sort();
  };
  const addUser = (address: string) => expectCli(system, ['user', 'add', address], `${PASSWORD}\n`);

  test('mail to postmaster accepted before its account exists waits in the queue and reaches the account once it is added', async () => {
    await expectCli(system, ['domain', 'add', 'one.test', '--postmaster', 'boss']);
    await send('postmaster@one.test', 'early');
    await addUser('alice@one.test'); // not the postmaster: one was named
    await addUser('boss@one.test');
    assert.deepEqual(await subjects('boss@one.test', 1), ['early']);
    assert.deepEqual(await subjects('alice@one.test', 0), []);
    assert.match(await expectCli(system, ['domain', 'list']), /^one\.test\tpostmaster boss@one\.test$/m);
  });

  test('without --postmaster the first user added to the domain receives its postmaster mail; mailctl domain postmaster names another', async () => {
    await expectCli(system, ['domain', 'add', 'two.test']);
    await addUser('carol@two.test');
    await addUser('dave@two.test');
    await send('PostMaster@two.test', 'to carol');
    assert.deepEqual(await subjects('carol@two.test', 1), ['to carol']);
    await expectCli(system, ['domain', 'postmaster', 'two.test', 'dave']);
    await send('postmaster@two.test', 'to dave');
    assert.deepEqual(await subjects('dave@two.test', 1), ['to dave']);
    assert.equal((await system.mailctl(['domain', 'postmaster', 'two.test', 'nobody'])).code === 0, false, 'only an existing account');
  });

  test('a domain without a postmaster of its own, and the bare <postmaster>, reach the site postmaster (the first domain\'s)', async () => {
    await expectCli(system, ['domain', 'add', 'three.test']);
    await send('postmaster@three.test', 'for three');
    await send('postmaster', 'bare');
    assert.deepEqual(await subjects('boss@one.test', 3), ['bare', 'early', 'for three']);
  });
});
