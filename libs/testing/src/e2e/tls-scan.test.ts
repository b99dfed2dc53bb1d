// The TLS profile as an independent scanner sees it (issue 17, item 4): sslyze from PyPI, installed into
// .tools/sslyze by `scripts/setup.sh --test-tools` (or SSLYZE_BIN), scans every TLS port, implicit and
// STARTTLS/STLS, and the result must be Mozilla's "intermediate" profile: TLS 1.2 and 1.3 only, for 1.2
// only ECDHE key exchange with AEAD ciphers (AES-GCM, ChaCha20-Poly1305), and a certificate signed with
// SHA-256. Skipped, saying why, where sslyze could not be installed.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT, type MailSystem } from '../mail-system.js';
import { startSystemWithUsers } from './helpers.js';

const SSLYZE = process.env.SSLYZE_BIN ?? join(REPO_ROOT, '.tools', 'sslyze', 'bin', 'sslyze');
const skip = existsSync(SSLYZE) ? false : `sslyze not installed at ${SSLYZE}: scripts/setup.sh --test-tools installs it from PyPI (needs python3-venv)`;

interface SuitesResult {
  status: string;
  result?: { accepted_cipher_suites: { cipher_suite: { name: string } }[] };
}

async function scan(port: number, starttls?: 'smtp' | 'pop3'): Promise<Record<string, SuitesResult & Record<string, unknown>>> {
  const args = ['--json_out=-', '--mozilla_config=disable', '--sslv2', '--sslv3', '--tlsv1', '--tlsv1_1', '--tlsv1_2', '--tlsv1_3', '--certinfo'];
  if (starttls) args.push('--starttls', starttls);
  const { stdout } = await promisify(execFile)(SSLYZE, [...args, `127.0.0.1:${port}`], { maxBuffer: 32 * 1024 * 1024, timeout: 120_000 });
  const report = JSON.parse(stdout) as { server_scan_results: { scan_status: string; scan_result: Record<string, SuitesResult & Record<string, unknown>> }[] };
  const [server] = report.server_scan_results;
  assert.equal(server?.scan_status, 'COMPLETED', `sslyze could not scan port ${port}`);
  return server!.scan_result;
}

const accepted = (result: SuitesResult | undefined): string[] => {
  assert.equal(result?.status, 'COMPLETED');
  return result!.result!.accepted_cipher_suites.map((s) => s.cipher_suite.name);
};

describe('the TLS profile as sslyze scans it: Mozilla intermediate', { skip }, () => {
  let system: MailSystem;
  before(async () => {
    system = await startSystemWithUsers(['scan@example.test']);
  });
  after(async () => {
    await system?.stop();
  });

  const targets: [string, (s: MailSystem) => number, 'smtp' | 'pop3' | undefined][] = [
    ['SMTPS (implicit TLS)', (s) => s.smtpsPort, undefined],
    ['POP3S (implicit TLS)', (s) => s.pop3sPort, undefined],
    ['SMTP STARTTLS on the MX port', (s) => s.smtpPort, 'smtp'],
    ['SMTP STARTTLS on submission', (s) => s.submissionPort, 'smtp'],
    ['POP3 STLS', (s) => s.pop3Port, 'pop3'],
  ];
  for (const [name, port, starttls] of targets) {
    test(`${name}: TLS 1.2+ only, ECDHE with AEAD ciphers for 1.2, a SHA-256 certificate`, async () => {
      const result = await scan(port(system), starttls);
      for (const old of ['ssl_2_0_cipher_suites', 'ssl_3_0_cipher_suites', 'tls_1_0_cipher_suites', 'tls_1_1_cipher_suites']) {
        assert.deepEqual(accepted(result[old]), [], `${old}: refused`);
      }
      const tls12 = accepted(result.tls_1_2_cipher_suites);
      assert.ok(tls12.length > 0, 'TLS 1.2 is offered');
      for (const suite of tls12) assert.match(suite, /^TLS_ECDHE_(ECDSA|RSA)_WITH_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/, `TLS 1.2 suite ${suite}`);
      assert.ok(accepted(result.tls_1_3_cipher_suites).length > 0, 'TLS 1.3 is offered');
      const certinfo = result.certificate_info as unknown as { status: string; result: { certificate_deployments: { received_certificate_chain: { signature_hash_algorithm: { name: string } }[] }[] } };
      assert.equal(certinfo.status, 'COMPLETED');
      const leaf = certinfo.result.certificate_deployments[0]!.received_certificate_chain[0]!;
      assert.equal(leaf.signature_hash_algorithm.name, 'sha256');
    });
  }
});
