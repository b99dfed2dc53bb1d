// NATS with a user per service, as deploy/ runs it, for the launcher (the local run and the test kit): a
// password per service (a file of its own, mode 0600) and a nats-server configuration file whose
// `authorization` block is libs/contracts' (nats-permissions.ts), with any other settings the caller adds.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NATS_SERVICES, natsAuthorizationConfig, type NatsService } from '@mail/contracts';

export interface NatsAuth {
  /** The nats-server configuration file (authorization and `extra`), mode 0600. */
  configFile: string;
  /** Each service's password, also in `<passwordDir>/<service>` (mode 0600). */
  passwords: Record<NatsService, string>;
  passwordDir: string;
  /** NATS_USER and NATS_PASSWORD for a service. */
  env(service: NatsService): { NATS_USER: string; NATS_PASSWORD: string };
}

/** New passwords for every service, written under `dir` with the configuration file `nats.conf`. */
export async function writeNatsAuth(dir: string, extra = ''): Promise<NatsAuth> {
  const passwordDir = join(dir, 'nats-passwords');
  await mkdir(passwordDir, { recursive: true, mode: 0o700 });
  await chmod(passwordDir, 0o700);
  const passwords = {} as Record<NatsService, string>;
  for (const service of NATS_SERVICES) {
    passwords[service] = randomBytes(24).toString('base64url');
    const file = join(passwordDir, service);
    await writeFile(file, `${passwords[service]}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
  }
  const configFile = join(dir, 'nats.conf');
  await writeFile(configFile, `${extra}${extra && !extra.endsWith('\n') ? '\n' : ''}${natsAuthorizationConfig((service) => JSON.stringify(passwords[service]))}`, { mode: 0o600 });
  await chmod(configFile, 0o600);
  return { configFile, passwords, passwordDir, env: (service) => ({ NATS_USER: service, NATS_PASSWORD: passwords[service] }) };
}
