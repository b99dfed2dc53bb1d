// CHUNKING and BINARYMIME (RFC 3030) on the running system: BDAT chunks pipelined in one write reach the
// mailbox whole; a binary body reaches a POP3 client encoded so that Python's email package decodes the
// exact octets; a chunk over the size limit is refused and the session goes on; and delivery-agent sends
// to a real Postfix smtpd with BDAT (seen on the wire through a recording proxy), encoding the binary body
// Postfix has no BINARYMIME for. Postfix's own SMTP client never sends BDAT (its smtp binary has no
// such command), so inbound BDAT is spoken here by the raw client, byte by byte.
import { strict as assert } from 'node:assert';
import { createServer, connect, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { freePort } from '@mail/launcher';
import { listen } from '@mail/platform';
import { poplibFetch, pythonMimeParts, RawClient, smtplibSend } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { postfixUnavailable, startPostfix, type PostfixInstance } from '../postfix-instance.js';
import { PASSWORD, startSystemWithUsers, until, waitForMessageCount } from './helpers.js';

const ALICE = 'alice@example.test';
const POSTFIX_USER = 'pat@postfix.test';
const noPostfix = postfixUnavailable();

/** Every octet value, with CR, LF and a dot at a line start among them: what only BINARYMIME carries as is. */
const BINARY = Buffer.from([...Array.from({ length: 256 }, (_, i) => i), 0x0a, 0x2e, 0x0d, 0x0a, 0x0d]);

function binaryMessage(to: string): Buffer {
  return Buffer.concat([
    Buffer.from(
      [
        'From: bob@remote.test',
        `To: ${to}`,
        'Subject: binary attachment',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b1"',
        '',
        '--b1',
        'Content-Type: text/plain; charset=us-ascii',
        '',
        'See the attachment.',
        '--b1',
        'Content-Type: application/octet-stream',
        'Content-Transfer-Encoding: binary',
        '',
        '',
      ].join('\r\n'),
    ),
    BINARY,
    Buffer.from('\r\n--b1--\r\n'),
  ]);
}

/** One BDAT transaction in a single write: MAIL, RCPT and the message cut into chunks at `cuts`. */
function pipelinedBdat(from: string, to: string, message: Buffer, cuts: number[], mailParameters = ''): Buffer {
  const pieces: Buffer[] = [Buffer.from(`MAIL FROM:<${from}>${mailParameters}\r\nRCPT TO:<${to}>\r\n`)];
  const bounds = [0, ...cuts, message.length];
  for (let i = 1; i < bounds.length; i++) {
    const chunk = message.subarray(bounds[i - 1], bounds[i]);
    pieces.push(Buffer.from(`BDAT ${chunk.length}${i === bounds.length - 1 ? ' LAST' : ''}\r\n`), chunk);
  }
  return Buffer.concat(pieces);
}

/** Forwards TCP to `port` and keeps what the client side sent, to see which verbs went over the wire. */
async function recordingProxy(port: number): Promise<{ server: Server; port: number; sent: () => string }> {
  const chunks: Buffer[] = [];
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port });
    client.on('data', (data: Buffer) => chunks.push(data));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  const listening = await listen(server, 0, '127.0.0.1');
  return { server, port: listening, sent: () => Buffer.concat(chunks).toString('latin1') };
}

describe('CHUNKING and BINARYMIME (RFC 3030)', () => {
  let system: MailSystem;
  let postfix: PostfixInstance | undefined;
  let proxy: Awaited<ReturnType<typeof recordingProxy>> | undefined;

  before(async () => {
    // delivery-agent reaches Postfix's smtpd through the recording proxy; Postfix relays anything else to us.
    const postfixPort = noPostfix ? 0 : await freePort();
    if (!noPostfix) proxy = await recordingProxy(postfixPort);
    system = await startSystemWithUsers([ALICE], {
      env: {
        SMTP_RELAY_NETWORKS: '127.0.0.1/32',
        MAX_MESSAGE_BYTES: '65536',
        ...(proxy ? { DELIVERY_TRANSPORT_MAP: `postfix.test=127.0.0.1:${proxy.port}` } : {}),
      },
    });
    if (!noPostfix) postfix = await startPostfix({ hostname: 'mx.postfix.test', domain: 'postfix.test', users: ['pat'], relayPort: system.smtpPort, port: postfixPort });
  });
  after(async () => {
    await system?.stop();
    proxy?.server.close();
    postfix?.stop();
  });

  test('EHLO offers CHUNKING and BINARYMIME; chunks pipelined in one write are answered in order and reach the mailbox whole', async () => {
    const client = await RawClient.connect(system.smtpPort);
    try {
      await client.reply();
      const ehlo = await client.command('EHLO client.test');
      assert.match(ehlo, /^250-CHUNKING\r$/m);
      assert.match(ehlo, /^250-BINARYMIME\r$/m);
      // A line holding only "." would end DATA; in a chunk it is content.
      const message = Buffer.from('From: bob@remote.test\r\nSubject: chunked\r\n\r\nbefore\r\n.\r\n..two dots\r\nafter\r\n');
      client.send(pipelinedBdat('bob@remote.test', ALICE, message, [7, 30, 31]));
      assert.equal(await client.reply(), '250 2.1.0 Sender OK');
      assert.equal(await client.reply(), '250 2.1.5 Recipient OK');
      for (const size of [7, 23, 1]) assert.equal(await client.reply(), `250 2.0.0 ${size} octets received`);
      assert.match(await client.reply(), /^250 2\.0\.0 OK: queued as [0-9A-Z]+$/);
      assert.equal(await client.command('QUIT'), '221 2.0.0 Bye');
    } finally {
      client.close();
    }
    await waitForMessageCount(system, ALICE, 1);
    const [fetched] = (await poplibFetch(system.pop3Port, ALICE, PASSWORD, { delete: true })).messages;
    assert.ok(fetched!.toString('latin1').endsWith('Subject: chunked\r\n\r\nbefore\r\n.\r\n..two dots\r\nafter\r\n'), fetched!.toString('latin1'));
  });

  test('a BINARYMIME body reaches a POP3 client base64-encoded, and Python decodes the exact octets', async () => {
    const client = await RawClient.connect(system.smtpPort);
    try {
      await client.reply();
      await client.command('EHLO client.test');
      const message = binaryMessage(ALICE);
      assert.equal(await client.command('MAIL FROM:<bob@remote.test> BODY=BINARYMIME'), '250 2.1.0 Sender OK');
      assert.equal(await client.command(`RCPT TO:<${ALICE}>`), '250 2.1.5 Recipient OK');
      assert.equal(await client.command('DATA'), '503 5.5.1 BODY=BINARYMIME needs BDAT, not DATA');
      client.send(Buffer.concat([Buffer.from(`BDAT 100\r\n`), message.subarray(0, 100), Buffer.from(`BDAT ${message.length - 100} LAST\r\n`), message.subarray(100)]));
      assert.equal(await client.reply(), '250 2.0.0 100 octets received');
      assert.match(await client.reply(), /^250 2\.0\.0 OK: queued as /);
    } finally {
      client.close();
    }
    await waitForMessageCount(system, ALICE, 1);
    const [fetched] = (await poplibFetch(system.pop3Port, ALICE, PASSWORD, { delete: true })).messages;
    const parsed = await pythonMimeParts(fetched!);
    assert.equal(parsed.content_type, 'multipart/mixed');
    assert.deepEqual(parsed.defects, []);
    const attachment = parsed.parts.find((p) => p.content_type === 'application/octet-stream');
    assert.equal(attachment?.transfer_encoding, 'base64');
    assert.deepEqual(attachment.payload, BINARY);
  });

  test('a chunk over the size limit is answered 552 after it is read; the session then takes the next message', async () => {
    const client = await RawClient.connect(system.smtpPort);
    try {
      await client.reply();
      await client.command('EHLO client.test');
      await client.command('MAIL FROM:<bob@remote.test>');
      await client.command(`RCPT TO:<${ALICE}>`);
      const big = Buffer.alloc(70_000, 0x61);
      // The client pipelines the LAST chunk behind the one that is refused: it is read and answered 503.
      client.send(Buffer.concat([Buffer.from(`BDAT ${big.length}\r\n`), big, Buffer.from('BDAT 5 LAST\r\nabcde')]));
      assert.equal(await client.reply(), '552 5.3.4 Message size exceeds fixed limit of 65536 bytes');
      assert.equal(await client.reply(), '503 5.5.1 Need MAIL and RCPT before BDAT');
      client.send(pipelinedBdat('bob@remote.test', ALICE, Buffer.from('Subject: small\r\n\r\nfits\r\n'), []));
      await client.reply();
      await client.reply();
      assert.match(await client.reply(), /^250 2\.0\.0 OK: queued as /);
    } finally {
      client.close();
    }
    await waitForMessageCount(system, ALICE, 1);
    const { messages } = await poplibFetch(system.pop3Port, ALICE, PASSWORD, { delete: true });
    assert.equal(messages.length, 1);
    assert.match(messages[0]!.toString('latin1'), /Subject: small/);
  });

  test('delivery-agent sends to Postfix with BDAT, encoding a binary body for it (Postfix has CHUNKING, not BINARYMIME)', { skip: noPostfix }, async () => {
    const [plain] = await smtplibSend(system.smtpPort, [{ from: ALICE, to: [POSTFIX_USER], data: Buffer.from('From: alice@example.test\r\nSubject: to postfix\r\n\r\n.leading dot\r\n') }]);
    assert.equal(plain!.ok, true);
    const client = await RawClient.connect(system.smtpPort);
    try {
      await client.reply();
      await client.command('EHLO client.test');
      client.send(pipelinedBdat('bob@remote.test', POSTFIX_USER, binaryMessage(POSTFIX_USER), [333], ' BODY=BINARYMIME'));
      for (let i = 0; i < 3; i++) assert.match(await client.reply(), /^250 /);
      assert.match(await client.reply(), /^250 2\.0\.0 OK: queued as /);
    } finally {
      client.close();
    }
    const files = await until('both messages in the Postfix maildir', () => (postfix!.maildir('pat').length >= 2 ? postfix!.maildir('pat') : undefined), 60_000);
    const wire = proxy!.sent();
    assert.match(wire, /\r\nBDAT \d+ LAST\r\n/, 'BDAT on the wire');
    assert.doesNotMatch(wire, /\r\nDATA\r\n/, 'never DATA');
    assert.doesNotMatch(wire, /BODY=BINARYMIME/, 'Postfix does not offer BINARYMIME');
    const text = files.map((f) => f.toString('latin1'));
    assert.ok(text.some((t) => t.includes('Subject: to postfix') && t.includes('\n.leading dot\n')), 'the plain message, its leading dot kept');
    const binary = files.find((f) => f.toString('latin1').includes('Subject: binary attachment'));
    const parsed = await pythonMimeParts(binary!);
    assert.deepEqual(parsed.parts.find((p) => p.content_type === 'application/octet-stream')?.payload, BINARY);
  });
});
