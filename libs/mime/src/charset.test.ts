import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeText, parseMessage } from './index.js';

// “ € – ” in windows-1252, plus 0x81 (unassigned, stays U+0081 in the WHATWG table)
const SMART = Buffer.from([0x93, 0x80, 0x20, 0x96, 0x94, 0x81, 0xe9]);
const EXPECTED = '\u201c\u20ac \u2013\u201d\u0081é';

test('windows-1252 bytes 0x80-0x9F decode to their WHATWG code points, not C1 controls', () => {
  for (const label of ['windows-1252', 'cp1252', 'WINDOWS-1252', 'x-cp1252']) assert.equal(decodeText(SMART, label), EXPECTED, label);
});

test('us-ascii and iso-8859-1 labels are read as windows-1252 (WHATWG Encoding 4.2)', () => {
  for (const label of ['us-ascii', 'ascii', 'iso-8859-1', 'ISO_8859-1', 'latin1', 'l1', 'iso8859-1']) assert.equal(decodeText(SMART, label), EXPECTED, label);
  // a text part without a charset parameter is us-ascii (RFC 2045 5.2)
  const m = parseMessage(Buffer.concat([Buffer.from('Content-Type: text/plain\r\n\r\n'), SMART]));
  assert.equal(m.text, EXPECTED);
  const q = parseMessage('Subject: =?iso-8859-1?Q?=93quoted=94_=80?=\r\n\r\n');
  assert.equal(q.subject, '\u201cquoted\u201d \u20ac');
});
