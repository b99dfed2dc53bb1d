// TLS material for the listeners: certificate and key from files (Kubernetes Secrets), reloaded
// without a restart when the files change, or a self-signed pair generated on first start for local
// runs. Servers ask `context()` at every handshake, so a reload takes effect for the next client.
import { watchFile, unwatchFile } from 'node:fs';
import { mkdir, readFile, writeFile, access } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContext, type SecureContextOptions, type SecureVersion } from 'node:tls';
import type { Logger } from 'pino';

export interface TlsSettings {
  certFile: string;
  keyFile: string;
  /** Generate a self-signed certificate when the files do not exist (local runs). */
  selfSigned: boolean;
  /** Names the self-signed certificate is for. */
  selfSignedNames?: string[];
  minVersion: SecureVersion;
  /** OpenSSL cipher list (TLS_CIPHERS); the default is Mozilla's intermediate profile (tls-profile.ts). */
  ciphers: string;
  /** How often the files are checked for changes. */
  reloadIntervalMs: number;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Writes a self-signed certificate (P-256 key, signed with ECDSA-SHA256) and key (PEM, mode 0600) for `names`. */
export async function writeSelfSignedCertificate(certFile: string, keyFile: string, names: string[]): Promise<void> {
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: names[0] ?? 'localhost' }], {
    algorithm: 'sha256', // the library's default is SHA-1
    keyType: 'ec',
    curve: 'P-256',
    notAfterDate: new Date(Date.now() + 825 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: names.map((value) => (/^[\d.]+$|:/.test(value) ? { type: 7 as const, ip: value } : { type: 2 as const, value })),
      },
    ],
  });
  await mkdir(dirname(certFile), { recursive: true });
  await mkdir(dirname(keyFile), { recursive: true });
  await writeFile(keyFile, pems.private, { mode: 0o600 });
  await writeFile(certFile, pems.cert);
}

export class TlsMaterial {
  private current: { context: SecureContext; options: SecureContextOptions };
  private readonly listeners: (() => void)[] = [];

  private constructor(
    private readonly settings: TlsSettings,
    private readonly logger: Logger,
    current: { context: SecureContext; options: SecureContextOptions },
  ) {
    this.current = current;
  }

  /** Loads the certificate, or returns undefined when TLS is not configured. */
  static async load(settings: TlsSettings, logger: Logger): Promise<TlsMaterial | undefined> {
    if (!settings.certFile || !settings.keyFile) return undefined;
    if (settings.selfSigned && !((await exists(settings.certFile)) && (await exists(settings.keyFile)))) {
      await writeSelfSignedCertificate(settings.certFile, settings.keyFile, settings.selfSignedNames ?? ['localhost', '127.0.0.1']);
      logger.info({ certFile: settings.certFile }, 'generated a self-signed TLS certificate');
    }
    const material = new TlsMaterial(settings, logger, await TlsMaterial.build(settings));
    material.watch();
    return material;
  }

  private static async build(settings: TlsSettings): Promise<{ context: SecureContext; options: SecureContextOptions }> {
    const [cert, key] = await Promise.all([readFile(settings.certFile), readFile(settings.keyFile)]);
    const options: SecureContextOptions = { cert, key, minVersion: settings.minVersion, ...(settings.ciphers ? { ciphers: settings.ciphers } : {}) };
    return { context: createSecureContext(options), options };
  }

  private watch(): void {
    const reload = () => {
      TlsMaterial.build(this.settings).then(
        (context) => {
          this.current = context;
          this.logger.info({ certFile: this.settings.certFile }, 'TLS certificate reloaded');
          for (const listener of this.listeners) listener();
        },
        // A half-written pair (cert updated, key not yet) fails here; the next change retries.
        (err: Error) => this.logger.warn({ err: err.message }, 'TLS certificate reload failed; keeping the previous one'),
      );
    };
    for (const file of [this.settings.certFile, this.settings.keyFile]) {
      watchFile(file, { interval: this.settings.reloadIntervalMs, persistent: false }, (now, before) => {
        if (now.mtimeMs !== before.mtimeMs || now.size !== before.size || now.ino !== before.ino) reload();
      });
    }
  }

  context(): SecureContext {
    return this.current.context;
  }

  /** The options the current context was made from, for `tls.Server#setSecureContext`. */
  contextOptions(): SecureContextOptions {
    return this.current.options;
  }

  get minVersion(): SecureVersion {
    return this.settings.minVersion;
  }

  onReload(listener: () => void): void {
    this.listeners.push(listener);
  }

  close(): void {
    unwatchFile(this.settings.certFile);
    unwatchFile(this.settings.keyFile);
  }
}
