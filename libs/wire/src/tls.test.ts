// The listeners' TLS material: the self-signed certificate is signed with SHA-256, and the default
// profile refuses TLS 1.2 suites outside Mozilla's intermediate list.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { connect, TLSSocket, type ConnectionOptions } from 'node:tls';
import pino from 'pino';
import { loadTlsSettings } from '@mail/platform';
import { TlsMaterial, writeSelfSignedCertificate } from './tls.js';

const dir = await mkdtemp(join(tmpdir(), 'tls-test-'));
after(() => rm(dir, { recursive: true, force: true }));

/** DER of the signature algorithm identifiers (RFC 5758 §3.2, RFC 3279 §2.2.3). */
const ECDSA_WITH_SHA256 = Buffer.from('06082a8648ce3d040302', 'hex');
const ECDSA_WITH_SHA1 = Buffer.from('06072a8648ce3d0401', 'hex');

test('the self-signed certificate is signed with ECDSA and SHA-256, never SHA-1', async () => {
  await writeSelfSignedCertificate(join(dir, 'cert.pem'), join(dir, 'key.pem'), ['localhost', '127.0.0.1']);
  const der = new X509Certificate(await readFile(join(dir, 'cert.pem'))).raw;
  assert.ok(der.includes(ECDSA_WITH_SHA256), 'ecdsa-with-SHA256');
  assert.ok(!der.includes(ECDSA_WITH_SHA1), 'no ecdsa-with-SHA1');
});

test('with the default settings, TLS 1.2 is refused for CBC suites and agreed for ECDHE with AES-GCM', async () => {
  const settings = { ...loadTlsSettings({}), certFile: join(dir, 'listener-cert.pem'), keyFile: join(dir, 'listener-key.pem'), selfSigned: true };
  const material = (await TlsMaterial.load(settings, pino({ level: 'silent' })))!;
  // As the listeners do: each connection gets the material's current context.
  const server = createServer((raw) => {
    const secure = new TLSSocket(raw, { isServer: true, secureContext: material.context() });
    secure.on('error', () => undefined);
    secure.once('secure', () => secure.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const handshake = (options: ConnectionOptions) =>
    new Promise<string>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, maxVersion: 'TLSv1.2', ...options });
      socket.once('secureConnect', () => {
        resolve(socket.getCipher().standardName);
        socket.destroy();
      });
      socket.once('error', () => resolve('refused'));
    });
  try {
    assert.equal(await handshake({ ciphers: 'ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-CCM8' }), 'refused');
    assert.equal(await handshake({ ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }), 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
  } finally {
    server.close();
    material.close();
  }
});
