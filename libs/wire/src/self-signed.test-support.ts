// For the wire's own socket tests: listener TLS material with a self-signed certificate made in a
// temporary folder, closed and removed when the test file's tests are over.
import { after } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { TlsMaterial } from './tls.js';

export async function selfSignedTlsMaterial(folderPrefix: string): Promise<TlsMaterial> {
  const dir = await mkdtemp(join(tmpdir(), folderPrefix));
  const tls = (await TlsMaterial.load(
    { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem'), selfSigned: true, minVersion: 'TLSv1.2', ciphers: '', reloadIntervalMs: 60_000 },
    pino({ level: 'silent' }),
  ))!;
  after(async () => {
    tls.close();
    await rm(dir, { recursive: true, force: true });
  });
  return tls;
}
