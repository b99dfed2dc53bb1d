import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDsn, buildMessage, withoutReturnedContent, downgradeTo7bit, downgradeTo7bitDetailed, getHeader, getHeaders, parseHeaders, parseMessage, walkParts } from './index.js';

const lines = (bytes: Uint8Array): string[] => Buffer.from(bytes).toString('latin1').split('\r\n');

test('a message has MIME-Version, Date, Message-ID and text/html alternatives', () => {
  const raw = buildMessage({ from: 'a@example.com', to: ['b@example.com'], subject: 'Hi', text: 'plain', html: '<b>html</b>' });
  const m = parseMessage(raw);
  assert.equal(getHeader(m.headers, 'mime-version'), '1.0');
  assert.ok(m.date !== null);
  assert.match(m.messageId!, /^<[0-9a-f]+@example\.com>$/);
  assert.equal(m.root.contentType.mimeType, 'multipart/alternative');
  assert.equal(m.text, 'plain');
  assert.equal(m.html, '<b>html</b>');
});

test('non-ASCII subjects, names and filenames are encoded (RFC 2047, RFC 2231) and read back', () => {
  const filename = 'Übersicht über alle Größen und Farben des Jahres 2024 — endgültig.pdf';
  const raw = buildMessage({
    from: { name: 'Jürgen', address: 'j@example.de' },
    subject: 'Grüße aus Köln',
    text: 'x',
    attachments: [{ filename, content: new Uint8Array([0, 1, 2]), contentType: 'application/pdf' }],
  });
  assert.ok(Buffer.from(raw).every((b) => b < 0x80), 'output is 7-bit');
  const m = parseMessage(raw);
  assert.equal(m.subject, 'Grüße aus Köln');
  assert.equal(m.from![0]!.name, 'Jürgen');
  assert.equal(m.attachments[0]!.filename, filename);
  assert.deepEqual([...m.attachments[0]!.content], [0, 1, 2]);
});

test('lines are folded at 78 and never exceed 998 characters', () => {
  const raw = buildMessage({ from: 'a@b.c', subject: 'word '.repeat(100) + 'x'.repeat(2000), text: 'y'.repeat(5000) });
  for (const line of lines(raw)) assert.ok(line.length <= 998, `line of ${line.length}`);
  const headerLines = lines(raw).slice(0, lines(raw).indexOf(''));
  assert.ok(headerLines.filter((l) => l.length > 78).length <= 2);
});

test('the transfer encoding is chosen per part', () => {
  const raw = buildMessage({ from: 'a@b.c', text: 'ascii only', html: '<p>Un café au lait, s’il vous plaît.</p>', attachments: [{ filename: 'a.bin', content: new Uint8Array([255]) }] });
  const ctes = walkParts(parseMessage(raw).root).filter((p) => p.kind === 'leaf').map((p) => p.transferEncoding);
  assert.deepEqual(ctes, ['7bit', 'quoted-printable', 'base64']);
});

test('inline parts with a Content-ID go into multipart/related with the HTML', () => {
  const raw = buildMessage({ from: 'a@b.c', html: '<img src="cid:logo">', attachments: [{ contentId: 'logo', content: new Uint8Array([1]), contentType: 'image/png' }] });
  const m = parseMessage(raw);
  assert.equal(m.root.contentType.mimeType, 'multipart/related');
  assert.equal(m.root.children[1]!.contentId, 'logo');
});

test('boundaries are unique per multipart', () => {
  const raw = buildMessage({ from: 'a@b.c', text: 't', html: 'h', attachments: [{ filename: 'f', content: 'x' }] });
  const boundaries = walkParts(parseMessage(raw).root).filter((p) => p.kind === 'multipart').map((p) => p.contentType.params['boundary']);
  assert.equal(new Set(boundaries).size, boundaries.length);
});

test('a DSN is multipart/report with delivery-status and rfc822-headers parts (RFC 3464, RFC 6522)', () => {
  const original = Buffer.from('From: sender@example.com\r\nTo: nobody@example.net\r\nSubject: hello\r\n\r\nbody text\r\n');
  const raw = buildDsn({
    reportingMta: 'mx.example.com',
    originalEnvelopeId: 'ENV123',
    arrivalDate: new Date(Date.UTC(2024, 0, 1)),
    recipients: [{ finalRecipient: 'nobody@example.net', action: 'failed', status: '5.1.1', remoteMta: 'mx.example.net', diagnosticCode: '550 5.1.1 no such user' }],
    originalHeaders: original,
    from: 'MAILER-DAEMON@example.com',
    to: 'sender@example.com',
  });
  const m = parseMessage(raw);
  assert.equal(m.root.contentType.mimeType, 'multipart/report');
  assert.equal(m.root.contentType.params['report-type'], 'delivery-status');
  assert.deepEqual(m.root.children.map((p) => p.contentType.mimeType), ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
  const status = Buffer.from(m.root.children[1]!.content).toString();
  const [perMessage, perRecipient] = status.split('\r\n\r\n').map((block) => parseHeaders(block + '\r\n\r\n'));
  assert.equal(getHeader(perMessage!, 'reporting-mta'), 'dns; mx.example.com');
  assert.equal(getHeader(perMessage!, 'original-envelope-id'), 'ENV123');
  assert.equal(getHeader(perRecipient!, 'final-recipient'), 'rfc822; nobody@example.net');
  assert.equal(getHeader(perRecipient!, 'action'), 'failed');
  assert.equal(getHeader(perRecipient!, 'status'), '5.1.1');
  assert.equal(getHeader(perRecipient!, 'diagnostic-code'), 'smtp; 550 5.1.1 no such user');
  const headersPart = Buffer.from(m.root.children[2]!.content).toString();
  assert.ok(headersPart.includes('Subject: hello'));
  assert.ok(!headersPart.includes('body text'));
  assert.equal(m.subject, 'Undelivered Mail Returned to Sender');
});

test('a DSN may return the whole message as message/rfc822, and names the original recipient with its type', () => {
  const original = Buffer.from('From: sender@example.com\r\nSubject: hello\r\n\r\nbody text\r\n');
  const raw = buildDsn({
    reportingMta: 'mx.example.com',
    arrivalDate: new Date(Date.UTC(2024, 0, 1)),
    recipients: [
      { finalRecipient: 'a@example.net', originalRecipient: 'x@y', action: 'failed', status: '5.1.1' },
      { finalRecipient: 'b@example.net', originalRecipient: 'c=us;p=x', originalRecipientType: 'x400', action: 'failed', status: '5.1.1' },
    ],
    originalHeaders: original,
    returned: 'message',
    from: 'MAILER-DAEMON@example.com',
    to: 'sender@example.com',
  });
  const m = parseMessage(raw);
  assert.deepEqual(m.root.children.map((p) => p.contentType.mimeType), ['text/plain', 'message/delivery-status', 'message/rfc822']);
  assert.ok(Buffer.from(raw).toString().includes(`Content-Transfer-Encoding: 7bit\r\n\r\n${original.toString()}`), 'the message whole, body included');
  const status = Buffer.from(m.root.children[1]!.content).toString();
  assert.match(status, /^Original-Recipient: rfc822; x@y\r\nFinal-Recipient: rfc822; a@example\.net$/m);
  assert.match(status, /^Original-Recipient: x400; c=us;p=x$/m);
  assert.doesNotMatch(status, /Original-Envelope-Id/, 'none given, none written');
});

test('a DSN without its returned part keeps the sender, subject and status fields, and says why (RFC 8689 §5)', () => {
  const original = Buffer.from('From: sender@example.com\r\nSubject: the secret plan\r\n\r\nbody text\r\n');
  const raw = buildDsn({
    reportingMta: 'mx.example.com',
    originalEnvelopeId: 'ENV9',
    arrivalDate: new Date(Date.UTC(2024, 0, 1)),
    recipients: [{ finalRecipient: 'nobody@example.net', action: 'failed', status: '5.7.30', diagnosticCode: '550 5.7.30 no REQUIRETLS' }],
    originalHeaders: original,
    from: { name: 'Mail Delivery System', address: 'MAILER-DAEMON@example.com' },
    to: 'sender@example.com',
  });
  const redacted = withoutReturnedContent(raw, 'The header section of your message is withheld.')!;
  const m = parseMessage(redacted);
  assert.deepEqual(m.root.children.map((p) => p.contentType.mimeType), ['text/plain', 'message/delivery-status'], 'two parts: no returned content');
  assert.equal(m.root.contentType.params['report-type'], 'delivery-status');
  assert.deepEqual(m.from, [{ name: 'Mail Delivery System', address: 'MAILER-DAEMON@example.com' }]);
  assert.equal(m.to![0]!.address, 'sender@example.com');
  assert.equal(m.subject, parseMessage(raw).subject);
  assert.equal(Buffer.from(m.root.children[1]!.content).toString(), Buffer.from(parseMessage(raw).root.children[1]!.content).toString(), 'the status fields as they were');
  assert.match(m.root.children[0]!.text!, /<nobody@example\.net>: 550 5\.7\.30 no REQUIRETLS\r\n\r\nThe header section of your message is withheld\.\r\n$/);
  assert.equal(getHeader(m.headers, 'auto-submitted'), 'auto-replied');
  assert.notEqual(getHeader(m.headers, 'message-id'), getHeader(parseMessage(raw).headers, 'message-id'), 'a message of its own');
  assert.ok(!Buffer.from(redacted).toString().includes('secret plan'));
  assert.equal(withoutReturnedContent(original, 'x'), undefined, 'not a report: nothing made');
});

test('downgrade re-encodes 8-bit parts and headers and keeps the content', () => {
  const raw = Buffer.from(
    'From: Jürgen <j@example.de>\r\nSubject: Grüße\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nschöne Grüße\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\u00ff\u00fe\r\n--b--\r\n',
    'utf8',
  );
  const out = downgradeTo7bit(raw);
  assert.ok(Buffer.from(out).every((b) => b < 0x80), 'output is 7-bit');
  const before = parseMessage(raw);
  const after = parseMessage(out);
  assert.equal(after.subject, 'Grüße');
  assert.equal(after.from![0]!.name, 'Jürgen');
  const leaves = (m: typeof before) => walkParts(m.root).filter((p) => p.kind === 'leaf');
  assert.deepEqual(leaves(after).map((p) => Buffer.from(p.content).toString('hex')), leaves(before).map((p) => Buffer.from(p.content).toString('hex')));
  assert.deepEqual(leaves(after).map((p) => p.transferEncoding), ['quoted-printable', 'base64']);
  const ascii = Buffer.from('Subject: x\r\n\r\nplain\r\n');
  assert.equal(downgradeTo7bit(ascii), ascii);
});

test('literal "=?...?=" text in an ASCII subject, display name or filename is encoded (RFC 2047 5)', () => {
  const subject = 'Re: =?utf-8?Q?caf=C3=A9?= is how you write it';
  const name = 'Eve =?utf-8?B?QWRtaW4=?=';
  const filename = '=?utf-8?B?w6k=?=.txt';
  const raw = buildMessage({ from: { name, address: 'eve@example.com' }, subject, text: 'x', attachments: [{ filename, content: 'data' }] });
  const head = Buffer.from(raw).toString('latin1');
  for (const literal of [subject, name, filename]) assert.ok(!head.includes(literal), `${literal} written as is`);
  const m = parseMessage(raw);
  assert.equal(m.subject, subject);
  assert.equal(m.from![0]!.name, name);
  assert.equal(m.attachments[0]!.filename, filename);
});

test('a word too long for a 998-character line is folded by encoding, not by inserting a space', () => {
  const word = 'x'.repeat(1500);
  for (const subject of [word, `Re: ${word} end`]) {
    const raw = buildMessage({ from: 'a@b.c', subject, text: 'y' });
    for (const line of lines(raw)) assert.ok(line.length <= 998, `line of ${line.length}`);
    assert.equal(parseMessage(raw).subject, subject);
  }
  // a short ASCII subject stays readable
  assert.ok(lines(buildMessage({ from: 'a@b.c', subject: 'Plain words', text: 'y' })).includes('Subject: Plain words'));
});

test('message/rfc822 parts are 7bit or 8bit, never base64 (RFC 2046 5.2.1); downgrade encodes their parts', () => {
  const ascii = 'From: x@example.com\r\nSubject: inner one\r\n\r\nascii body\r\n';
  const eight = 'From: x@example.com\nSubject: inner two\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nschöne Grüße\n';
  const raw = buildMessage({
    from: 'a@example.com',
    text: 'see attached',
    attachments: [
      { contentType: 'message/rfc822', content: ascii, filename: 'one.eml' },
      { contentType: 'message/rfc822', content: Buffer.from(eight) },
    ],
  });
  const m = parseMessage(raw);
  assert.deepEqual(m.attachments.map((p) => [p.kind, p.transferEncoding]), [['message', '7bit'], ['message', '8bit']]);
  assert.equal(m.attachments[1]!.children[0]!.text, 'schöne Grüße\r\n');
  const down = downgradeTo7bit(raw);
  assert.ok(Buffer.from(down).every((b) => b < 0x80), 'output is 7-bit');
  const after = parseMessage(down);
  assert.deepEqual(after.attachments.map((p) => p.transferEncoding), ['7bit', '7bit']);
  assert.equal(after.attachments[1]!.children[0]!.transferEncoding, 'quoted-printable');
  assert.equal(after.attachments[1]!.children[0]!.text, 'schöne Grüße\r\n');
  assert.deepEqual(after.defects, []);
  // a message/rfc822 that arrived base64 encoded is written out decoded and labelled 7bit
  const inner = Buffer.from('Subject: wrapped\r\n\r\nbody\r\n').toString('base64');
  const encoded = Buffer.from(`Subject: Grüße\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n${inner}\r\n--b--\r\n`);
  const mended = parseMessage(downgradeTo7bit(encoded));
  assert.equal(mended.root.children[0]!.transferEncoding, '7bit');
  assert.equal(getHeader(mended.root.children[0]!.children[0]!.headers, 'subject'), 'wrapped');
  assert.deepEqual(mended.defects, []);
});

test('downgrade never labels a multipart base64 (RFC 2045 6.4); a multipart without boundary becomes opaque data', () => {
  const raw = Buffer.from('Subject: x\r\nContent-Type: multipart/mixed\r\n\r\nno boundary, 8-bit: Grüße\r\n', 'utf8');
  const result = downgradeTo7bitDetailed(raw);
  assert.ok(Buffer.from(result.message).every((b) => b < 0x80), 'output is 7-bit');
  const after = parseMessage(result.message);
  assert.equal(after.root.contentType.mimeType, 'application/octet-stream');
  assert.equal(after.root.transferEncoding, 'base64');
  assert.equal(Buffer.from(after.root.content).toString('utf8'), 'no boundary, 8-bit: Grüße\r\n');
  assert.deepEqual(result.retyped, ['1: multipart/mixed']);
  assert.equal(getHeaders(after.headers, 'content-type').length, 1);
});

test('downgrade writes 8-bit filenames as RFC 2231 values (7-bit), not raw', () => {
  const raw = Buffer.from(
    'Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n' +
      'Content-Type: text/plain; charset=utf-8; name="Übersicht.txt"\r\nContent-Disposition: attachment; filename="Übersicht.txt"; size=3\r\nContent-Transfer-Encoding: 8bit\r\n\r\nü\r\n--b--\r\n',
    'utf8',
  );
  const result = downgradeTo7bitDetailed(raw);
  assert.deepEqual(result.problems, []);
  assert.ok(Buffer.from(result.message).every((b) => b < 0x80), 'output is 7-bit');
  const head = Buffer.from(result.message).toString('latin1');
  assert.ok(head.includes("filename*=utf-8''%C3%9Cbersicht.txt"), head);
  const part = parseMessage(result.message).root.children[0]!;
  assert.equal(part.filename, 'Übersicht.txt');
  assert.equal(part.contentType.params['name'], 'Übersicht.txt');
  assert.equal(part.contentType.params['charset'], 'utf-8');
  assert.equal(part.disposition.type, 'attachment');
  assert.equal(part.disposition.params['size'], '3');
  assert.equal(part.text, 'ü');
});

test('groups are written as RFC 5322 3.4 group syntax and read back', () => {
  const raw = buildMessage({
    from: 'a@example.com',
    to: [{ group: 'undisclosed-recipients', members: [] }],
    cc: [{ group: 'team', members: ['x@example.com', { name: 'Bé', address: 'y@example.com' }] }, 'z@example.com', { group: 'Équipe, Paris', members: ['p@example.fr'] }],
    text: 'x',
  });
  const head = lines(raw);
  assert.ok(head.includes('To: undisclosed-recipients:;'), head.join('\n'));
  const m = parseMessage(raw);
  assert.deepEqual(m.to, []);
  assert.deepEqual(m.cc, [
    { name: '', address: 'x@example.com', group: 'team' },
    { name: 'Bé', address: 'y@example.com', group: 'team' },
    { name: '', address: 'z@example.com' },
    { name: '', address: 'p@example.fr', group: 'Équipe, Paris' },
  ]);
});
