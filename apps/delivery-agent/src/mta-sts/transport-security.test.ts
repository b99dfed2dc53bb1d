// The pieces of TransportSecurity that need no network: the TLS-Required header (RFC 8689 §5) and the
// RFC 8460 result type of a failed TLS session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resultTypeOf, tlsRequiredNo } from './transport-security.js';

const bytes = (text: string) => Buffer.from(text.replace(/\n/g, '\r\n'));

test('TLS-Required: No is found in the header, folded or in any case, and not in the body', () => {
  assert.equal(tlsRequiredNo(bytes('From: a@b\nTLS-Required: No\nSubject: x\n\nbody\n')), true);
  assert.equal(tlsRequiredNo(bytes('tls-required:\n no\n\nbody\n')), true);
  assert.equal(tlsRequiredNo(bytes('Subject: x\n\nTLS-Required: No\n')), false);
  assert.equal(tlsRequiredNo(bytes('TLS-Required: Yes\n\n')), false);
  assert.equal(tlsRequiredNo(bytes('X-TLS-Required: No\n\n')), false);
});

test("Node's certificate errors map to RFC 8460 result types", () => {
  assert.equal(resultTypeOf('starttls-not-supported'), 'starttls-not-supported');
  assert.equal(resultTypeOf('ERR_TLS_CERT_ALTNAME_INVALID'), 'certificate-host-mismatch');
  assert.equal(resultTypeOf('CERT_HAS_EXPIRED'), 'certificate-expired');
  assert.equal(resultTypeOf('DEPTH_ZERO_SELF_SIGNED_CERT'), 'certificate-not-trusted');
  assert.equal(resultTypeOf('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'certificate-not-trusted');
  assert.equal(resultTypeOf('ECONNRESET'), 'validation-failure');
  assert.equal(resultTypeOf(undefined), 'validation-failure');
});
