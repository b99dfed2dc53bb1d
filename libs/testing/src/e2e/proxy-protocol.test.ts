// The PROXY protocol (v1 and v2) on the SMTP and POP3 listeners behind a load balancer: the client's
// real address reaches the session (EHLO reply, Received: header), on plain and implicit-TLS ports;
// a trusted peer that sends no valid header is disconnected; the connection limits count the real
// clients, and the last slots are kept for clients that hold none yet.
import { strict as assert } from 'node:assert';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { RawClient } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { PASSWORD, splitTrace, startSystemWithUsers } from './helpers.js';

/** SMTP_MAX_CONNECTIONS of this suite; 20 % of them (the last 2) are kept for clients without a connection. */
const MAX_CONNECTIONS = 10;

const v1 = (address: string) => `PROXY TCP4 ${address} 192.0.2.1 40000 25\r\n`;

function v2(address: string): Buffer {
  const header = Buffer.alloc(16 + 12);
  Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]).copy(header);
  header[12] = 0x21; // version 2, PROXY
  header[13] = 0x11; // TCP over IPv4
  header.writeUInt16BE(12, 14);
  address.split('.').forEach((octet, i) => (header[16 + i] = Number(octet)));
  [192, 0, 2, 1].forEach((octet, i) => (header[20 + i] = octet));
  header.writeUInt16BE(40001, 24);
  header.writeUInt16BE(465, 26);
  return header;
}

/** A raw client whose first bytes are a PROXY header. */
async function proxied(port: number, header: string | Buffer): Promise<RawClient> {
  const client = await RawClient.connect(port);
  client.send(header);
  return client;
}

describe('PROXY protocol behind a load balancer', () => {
  let system: MailSystem;
  before(async () => {
    system = await startSystemWithUsers(['lb@example.test'], {
      env: { PROXY_PROTOCOL: 'true', PROXY_TRUSTED_NETWORKS: '127.0.0.0/8', SMTP_MAX_CONNECTIONS: String(MAX_CONNECTIONS), SMTP_RESERVED_CONNECTIONS_PERCENT: '20' },
    });
  });
  after(async () => {
    await system?.stop();
  });

  test('v1 on the SMTP port: the session and the Received: header see the real client', async () => {
    const client = await proxied(system.smtpPort, v1('203.0.113.7'));
    assert.match(await client.reply(), /^220 /);
    assert.match(await client.command('EHLO lb.test'), /Hello lb\.test \[203\.0\.113\.7\]/);
    await client.command('MAIL FROM:<a@remote.test>');
    await client.command('RCPT TO:<lb@example.test>');
    await client.command('DATA');
    client.send('Subject: via proxy\r\n\r\nx\r\n.\r\n');
    assert.match(await client.reply(), /^250 /);
    client.close();
    await waitForCountThroughProxy(system, 1);
    const fetched = await poplibFetchThroughProxy(system);
    assert.match(splitTrace(fetched).received, /^Received: from lb\.test \(\[203\.0\.113\.7\]\)/);
  });

  test('v2 on the implicit-TLS SMTPS port, header and TLS ClientHello arriving together', async () => {
    const raw: Socket = tcpConnect({ host: '127.0.0.1', port: system.smtpsPort });
    await new Promise((resolve) => raw.once('connect', resolve));
    raw.write(v2('198.51.100.9'));
    const secure = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' });
    const lines = await new Promise<string>((resolve) => {
      let text = '';
      secure.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('220 ') && !text.includes('EHLO-sent')) {
          text += 'EHLO-sent';
          secure.write('EHLO lb.test\r\n');
        }
        if (/250 HELP/.test(text)) resolve(text);
      });
    });
    assert.match(lines, /Hello lb\.test \[198\.51\.100\.9\]/);
    secure.destroy();
  });

  test('v1 on the POP3 port works too', async () => {
    const client = await proxied(system.pop3Port, v1('203.0.113.8'));
    assert.match(await client.reply(), /^\+OK/);
    assert.match(await client.command('CAPA'), /^\+OK/);
    await client.multiline();
    client.close();
  });

  test('the last slots are kept for new clients: a client holding many connections is refused them, another client is served', async () => {
    const held: RawClient[] = [];
    for (let i = 0; i < MAX_CONNECTIONS - 2; i++) {
      held.push(await proxied(system.smtpPort, v1('203.0.113.60')));
      assert.match(await held[i]!.reply(), /^220 /);
    }
    const greedy = await proxied(system.smtpPort, v1('203.0.113.60'));
    assert.equal(await greedy.reply(), '421 4.7.0 Server busy: the last connections are kept for other clients, try again later');
    assert.equal(await greedy.waitClosed(), true);
    for (const address of ['203.0.113.61', '203.0.113.62']) {
      const newcomer = await proxied(system.smtpPort, v1(address));
      assert.match(await newcomer.reply(), /^220 /, `${address} is served`);
      held.push(newcomer);
    }
    const full = await proxied(system.smtpPort, v1('203.0.113.63'));
    assert.equal(await full.reply(), '421 4.7.0 Too many connections, try again later');
    for (const client of held) client.close();
  });

  test('a trusted peer that sends no PROXY header, or a broken one, is disconnected', async () => {
    const bare = await RawClient.connect(system.smtpPort);
    bare.send('EHLO direct.test\r\n');
    assert.equal(await bare.waitClosed(5000), true);
    const broken = await proxied(system.smtpPort, 'PROXY TCP4 not-an-address\r\n');
    assert.equal(await broken.waitClosed(5000), true);
  });
});

/** Polls STAT over a proxied POP3 session until the maildrop holds `count` messages. */
async function waitForCountThroughProxy(system: MailSystem, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = await proxied(system.pop3Port, v1('203.0.113.51'));
    await client.reply();
    await client.command('USER lb@example.test');
    await client.command(`PASS ${PASSWORD}`);
    const seen = Number((await client.command('STAT')).split(' ')[1]);
    await client.command('QUIT');
    client.close();
    if (seen >= count) return;
    if (Date.now() > deadline) throw new Error(`maildrop has ${seen}, expected ${count}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** poplib cannot send a PROXY header: read the message over a raw proxied POP3 session instead. */
async function poplibFetchThroughProxy(system: MailSystem): Promise<Buffer> {
  const client = await proxied(system.pop3Port, v1('203.0.113.50'));
  await client.reply();
  await client.command('USER lb@example.test');
  assert.match(await client.command(`PASS ${PASSWORD}`), /^\+OK/);
  assert.match(await client.command('RETR 1'), /^\+OK/);
  const body = await client.multiline();
  await client.command('QUIT');
  client.close();
  return Buffer.from(body.replace(/^\.\./gm, '.'), 'latin1');
}
