// The SMTP client transaction against a scripted server on 127.0.0.1: per-recipient results,
// PIPELINING on and off, HELO fallback, 8BITMIME downgrade, SMTPUTF8 and SIZE refusals, STARTTLS policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { ScriptedSmtpServer } from '@mail/testing';
import { deliverToHost, HostFailure, RFC5321_TIMEOUTS, type TransactionRequest } from './transaction.js';

const timeouts = { ...RFC5321_TIMEOUTS, connect: 2000, greeting: 2000, mail: 2000, rcpt: 2000, dataInit: 2000, dataBlock: 2000, dataTerm: 2000 };

async function withServer(script: ConstructorParameters<typeof ScriptedSmtpServer>[0], run: (server: ScriptedSmtpServer, request: TransactionRequest) => Promise<void>) {
  const server = new ScriptedSmtpServer(script);
  const port = await server.start();
  try {
    await run(server, {
      host: '127.0.0.1',
      port,
      serverName: 'mx.test',
      heloName: 'client.test',
      sender: 'alice@example.test',
      recipients: ['a@remote.test', 'b@remote.test'],
      message: Buffer.from('Subject: hi\r\n\r\n.dot\r\nbody\r\n'),
      smtputf8: false,
      tls: 'opportunistic',
      timeouts,
    });
  } finally {
    await server.stop();
  }
}

test('all recipients accepted: one transaction, dot-stuffing undone by the server, every recipient delivered', async () => {
  await withServer({}, async (server, request) => {
    const results = await deliverToHost(request);
    assert.deepEqual(results.map((r) => r.outcome), ['delivered', 'delivered']);
    assert.equal(server.transactions.length, 1);
    assert.deepEqual(server.transactions[0]!.recipients, ['a@remote.test', 'b@remote.test']);
    assert.equal(server.transactions[0]!.data.toString(), 'Subject: hi\r\n\r\n.dot\r\nbody\r\n');
    assert.match(server.transactions[0]!.ehloParameters, /SIZE=\d+/);
  });
});

test('per-recipient replies: 4xx is temporary, 5xx permanent, the rest delivered', async () => {
  await withServer({ rcpt: (r) => (r.startsWith('a') ? '451 4.2.1 later' : '250 ok') }, async (_server, request) => {
    const results = await deliverToHost({ ...request, recipients: ['a@remote.test', 'b@remote.test', 'c@remote.test'] });
    assert.deepEqual(results.map((r) => [r.recipient, r.outcome]), [['a@remote.test', 'temporary'], ['b@remote.test', 'delivered'], ['c@remote.test', 'delivered']]);
    assert.match(results[0]!.reply, /^451 4\.2\.1 later/);
  });
  await withServer({ rcpt: () => '550 5.1.1 unknown' }, async (server, request) => {
    const results = await deliverToHost(request);
    assert.deepEqual(results.map((r) => r.outcome), ['permanent', 'permanent']);
    assert.equal(server.transactions.length, 0, 'no DATA without an accepted recipient');
  });
});

test('without PIPELINING the commands go one by one and the result is the same', async () => {
  await withServer({ extensions: ['8BITMIME'] }, async (server, request) => {
    const results = await deliverToHost(request);
    assert.deepEqual(results.map((r) => r.outcome), ['delivered', 'delivered']);
    assert.equal(server.transactions.length, 1);
  });
});

test('a final 5xx after DATA fails every accepted recipient permanently; 4xx defers them', async () => {
  await withServer({ data: () => '554 5.7.1 spam' }, async (_s, request) => {
    assert.deepEqual((await deliverToHost(request)).map((r) => r.outcome), ['permanent', 'permanent']);
  });
  await withServer({ data: () => '452 4.3.1 disk full' }, async (_s, request) => {
    assert.deepEqual((await deliverToHost(request)).map((r) => r.outcome), ['temporary', 'temporary']);
  });
});

test('8-bit content to a server without 8BITMIME is downgraded to 7 bits', async () => {
  await withServer({ extensions: ['PIPELINING'] }, async (server, request) => {
    const message = Buffer.from('Subject: caf\xc3\xa9\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9 cr\xc3\xa8me\r\n', 'latin1');
    const results = await deliverToHost({ ...request, message });
    assert.deepEqual(results.map((r) => r.outcome), ['delivered', 'delivered']);
    const sent = server.transactions[0]!.data;
    assert.ok(sent.every((b) => b < 0x80), 'only 7-bit octets on the wire');
    assert.doesNotMatch(server.transactions[0]!.ehloParameters, /BODY=8BITMIME/);
  });
  await withServer({}, async (server, request) => {
    await deliverToHost({ ...request, message: Buffer.from('Subject: x\r\n\r\ncaf\xc3\xa9\r\n', 'latin1') });
    assert.match(server.transactions[0]!.ehloParameters, /BODY=8BITMIME/);
  });
});

test('a message that needs SMTPUTF8 fails permanently at a server without it', async () => {
  await withServer({ extensions: ['PIPELINING', '8BITMIME'] }, async (server, request) => {
    const results = await deliverToHost({ ...request, smtputf8: true, sender: 'zoë@example.test' });
    assert.deepEqual(results.map((r) => r.outcome), ['permanent', 'permanent']);
    assert.match(results[0]!.reply, /^553 5\.6\.7 /);
    assert.equal(server.transactions.length, 0);
  });
});

test("a message over the server's SIZE limit fails permanently without being sent", async () => {
  await withServer({ extensions: ['SIZE 10'] }, async (server, request) => {
    const results = await deliverToHost(request);
    assert.match(results[0]!.reply, /^552 5\.3\.4 /);
    assert.equal(server.connections, 1);
    assert.equal(server.transactions.length, 0);
  });
});

test('TLS required but STARTTLS not offered: the host fails, nothing is sent', async () => {
  await withServer({}, async (server, request) => {
    await assert.rejects(deliverToHost({ ...request, tls: 'required' }), (err: unknown) => err instanceof HostFailure && /STARTTLS/.test(err.message));
    assert.equal(server.transactions.length, 0);
  });
});

test('a server that refuses EHLO gets HELO, and a refused greeting or closed port is a host failure', async () => {
  const heloOnly = createServer((socket) => {
    socket.write('220 old.test\r\n');
    socket.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\r\n').filter(Boolean)) {
        if (line.startsWith('EHLO')) socket.write('502 5.5.1 what?\r\n');
        else if (line.startsWith('HELO')) socket.write('250 old.test\r\n');
        else if (line.startsWith('MAIL') || line.startsWith('RCPT')) socket.write('250 ok\r\n');
        else if (line === 'DATA') socket.write('354 go\r\n');
        else if (line === '.') socket.write('250 queued\r\n');
        else if (line === 'QUIT') socket.end('221 bye\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => heloOnly.listen(0, '127.0.0.1', resolve));
  const port = (heloOnly.address() as { port: number }).port;
  const base = { host: '127.0.0.1', port, serverName: 'old.test', heloName: 'c.test', sender: 's@x.test', recipients: ['r@old.test'], message: Buffer.from('x\r\n'), smtputf8: false, tls: 'opportunistic' as const, timeouts };
  assert.deepEqual((await deliverToHost(base)).map((r) => r.outcome), ['delivered']);
  heloOnly.close();
  await withServer({ greeting: '554 5.7.1 go away' }, async (_s, request) => {
    await assert.rejects(deliverToHost(request), (err: unknown) => err instanceof HostFailure && /greeting refused: 554/.test(err.message));
  });
  await assert.rejects(deliverToHost({ ...base, port: 1 }), HostFailure);
});

// --- CHUNKING and BINARYMIME (RFC 3030) ---------------------------------------------------------------------

const CHUNKING = ['PIPELINING', '8BITMIME', 'SIZE 10000000', 'CHUNKING'];
/** A message with a binary part: NUL, bare CR and LF, a dot at a line start, and 8-bit octets. */
const BINARY_BODY = Buffer.from([0x00, 0x0a, 0x2e, 0x0d, 0xff, 0x0d, 0x0a, 0x2e, 0x0d, 0x0a, 0x80]);
const binaryMessage = () =>
  Buffer.concat([Buffer.from('Subject: binary\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'), BINARY_BODY]);

test('a server offering CHUNKING gets the message as one BDAT LAST chunk, octets as they are', async () => {
  await withServer({ extensions: CHUNKING }, async (server, request) => {
    const results = await deliverToHost(request);
    assert.deepEqual(results.map((r) => r.outcome), ['delivered', 'delivered']);
    assert.equal(server.transactions[0]!.via, 'BDAT');
    assert.equal(server.transactions[0]!.data.toString(), 'Subject: hi\r\n\r\n.dot\r\nbody\r\n');
  });
});

test('BDAT is not used when switched off, and no chunk is sent when every recipient was refused', async () => {
  await withServer({ extensions: CHUNKING }, async (server, request) => {
    await deliverToHost({ ...request, chunking: false });
    assert.equal(server.transactions[0]!.via, 'DATA');
  });
  await withServer({ extensions: CHUNKING, rcpt: () => '550 5.1.1 no such user' }, async (server, request) => {
    const results = await deliverToHost(request);
    assert.deepEqual(results.map((r) => r.outcome), ['permanent', 'permanent']);
    assert.equal(server.dataAttempts, 0);
  });
});

test('a BINARYMIME message goes as it is to a server with BINARYMIME, and base64-encoded to one without', async () => {
  await withServer({ extensions: [...CHUNKING, 'BINARYMIME'] }, async (server, request) => {
    await deliverToHost({ ...request, message: binaryMessage(), binaryMime: true });
    const [sent] = server.transactions;
    assert.equal(sent!.via, 'BDAT');
    assert.match(sent!.ehloParameters, /BODY=BINARYMIME/);
    assert.deepEqual(sent!.data, binaryMessage());
  });
  for (const extensions of [CHUNKING, ['PIPELINING', '8BITMIME', 'SIZE 10000000']]) {
    await withServer({ extensions }, async (server, request) => {
      await deliverToHost({ ...request, message: binaryMessage(), binaryMime: true });
      const [sent] = server.transactions;
      assert.doesNotMatch(sent!.ehloParameters, /BINARYMIME/);
      const text = sent!.data.toString('latin1');
      assert.match(text, /Content-Transfer-Encoding: base64/i);
      assert.doesNotMatch(text, /[^\r]\n|\r[^\n]|[\x00\x80-\xff]/, 'lines only, 7-bit');
      const encoded = text.slice(text.indexOf('\r\n\r\n') + 4).replace(/\s+/g, '');
      assert.deepEqual(Buffer.from(encoded, 'base64'), BINARY_BODY);
    });
  }
});

const DSN_REQUEST: TransactionRequest['dsn'] = {
  ret: 'HDRS',
  envid: 'QQ 314+x',
  recipients: [
    { recipient: 'a@remote.test', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;first+last@old.test' },
    { recipient: 'b@remote.test', notify: ['NEVER'] },
  ],
};

test('a server that offers DSN gets RET and ENVID at MAIL, NOTIFY and ORCPT at RCPT (xtext), and the recipients are relayed with DSN', async () => {
  await withServer({ extensions: ['PIPELINING', '8BITMIME', 'DSN', 'SIZE 10000000'] }, async (server, request) => {
    const results = await deliverToHost({ ...request, recipients: ['a@remote.test', 'b@remote.test', 'c@remote.test'], dsn: DSN_REQUEST });
    assert.deepEqual(results.map((r) => [r.outcome, r.handoff]), [['delivered', 'relayed-with-dsn'], ['delivered', 'relayed-with-dsn'], ['delivered', 'relayed-with-dsn']]);
    const [sent] = server.transactions;
    assert.match(sent!.ehloParameters, / RET=HDRS ENVID=QQ\+20314\+2Bx$/);
    assert.deepEqual(sent!.recipientParameters, ['NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;first+2Blast@old.test', 'NOTIFY=NEVER', '']);
  });
});

test('a server without DSN gets no DSN parameters, and the delivered recipients are relayed without DSN', async () => {
  await withServer({ extensions: ['PIPELINING', '8BITMIME'], rcpt: (r) => (r.startsWith('b') ? '550 5.1.1 unknown' : '250 ok') }, async (server, request) => {
    const results = await deliverToHost({ ...request, dsn: DSN_REQUEST });
    assert.deepEqual(results.map((r) => [r.outcome, r.handoff]), [['delivered', 'relayed-without-dsn'], ['permanent', undefined]]);
    assert.doesNotMatch(server.transactions[0]!.ehloParameters, /RET|ENVID/);
    assert.deepEqual(server.transactions[0]!.recipientParameters, ['']);
  });
});

test('without a DSN request nothing is added, even where DSN is offered; a deferred recipient has no handoff', async () => {
  await withServer({ extensions: ['DSN'], rcpt: (r) => (r.startsWith('b') ? '451 4.2.1 later' : '250 ok') }, async (server, request) => {
    const results = await deliverToHost(request);
    assert.deepEqual(results.map((r) => [r.outcome, r.handoff]), [['delivered', 'relayed-with-dsn'], ['temporary', undefined]]);
    assert.equal(server.transactions[0]!.ehloParameters, '');
    assert.deepEqual(server.transactions[0]!.recipientParameters, ['']);
  });
});
