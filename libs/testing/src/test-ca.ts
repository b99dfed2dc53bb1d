// A certificate authority made at test time with the openssl command line, and certificates it
// issues (server and client), so TLS tests verify the peer for real instead of turning checks off.
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface IssuedCertificate {
  certFile: string;
  keyFile: string;
}

export interface TestCa {
  caFile: string;
  /** Issues a certificate for `names` (DNS names or IP addresses), usable by servers and clients. */
  issue(label: string, names: string[]): Promise<IssuedCertificate>;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

export async function createTestCa(dir: string, name = 'Mail Platform Test CA'): Promise<TestCa> {
  await mkdir(dir, { recursive: true });
  const curve = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...curve, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  let serial = 1;
  return {
    caFile: join(dir, 'ca.pem'),
    async issue(label, names) {
      const alt = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
      await writeFile(join(dir, `${label}.ext`), `subjectAltName=${alt}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n`);
      openssl(['req', ...curve, '-keyout', `${label}.key`, '-out', `${label}.csr`, '-subj', `/CN=${names[0] ?? label}`], dir);
      openssl(['x509', '-req', '-in', `${label}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++),
        '-out', `${label}.pem`, '-days', '2', '-extfile', `${label}.ext`], dir);
      return { certFile: join(dir, `${label}.pem`), keyFile: join(dir, `${label}.key`) };
    },
  };
}
