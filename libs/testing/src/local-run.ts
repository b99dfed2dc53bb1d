// The local run (scripts/local.mjs) apart from the processes: what its banner says, including the exact
// mailctl invocation for the ports it uses.
import type { MailSystem } from './mail-system.js';

/** mailctl's own defaults (apps/mailctl/src/cli.ts): the local run's ports when none is moved. */
export const MAILCTL_DEFAULT_ADDRESSES = { mailboxStore: '127.0.0.1:50051', queueManager: '127.0.0.1:50052' };

/** How to run mailctl against these addresses: plain `npx mailctl` on the defaults, with options otherwise. */
export function mailctlCommand(grpcAddress: string, queueAdminAddress: string): string {
  const options = [
    grpcAddress !== MAILCTL_DEFAULT_ADDRESSES.mailboxStore ? ` --mailbox-store ${grpcAddress}` : '',
    queueAdminAddress !== MAILCTL_DEFAULT_ADDRESSES.queueManager ? ` --queue-manager ${queueAdminAddress}` : '',
  ];
  return `npx mailctl${options.join('')}`;
}

/** What the local run prints once everything is ready. */
export function localBanner(system: MailSystem, dataDir: string): string {
  const mailctl = mailctlCommand(system.grpcAddress, system.queueAdminAddress);
  const moved = mailctl !== 'npx mailctl';
  const lines = [
    `mail platform running (data in ${dataDir})`,
    `  SMTP            127.0.0.1:${system.smtpPort}   (MX: mail for local domains; STARTTLS)`,
    `  submission      127.0.0.1:${system.submissionPort}   (STARTTLS, then AUTH PLAIN/LOGIN)`,
    `  SMTPS           127.0.0.1:${system.smtpsPort}   (implicit TLS, AUTH)`,
    `  POP3            127.0.0.1:${system.pop3Port}   (USER/PASS or AUTH PLAIN; STLS offered)`,
    `  POP3S           127.0.0.1:${system.pop3sPort}   (implicit TLS)`,
    `  TLS certificate ${system.tlsCertFile} (self-signed)`,
    `  mailbox-store   gRPC ${system.grpcAddress}`,
    `  queue-manager   admin gRPC ${system.queueAdminAddress}`,
    `  NATS            ${system.natsUrl}`,
    `  metrics         ${Object.entries(system.httpPorts).map(([name, p]) => `${name}=http://127.0.0.1:${p}/metrics`).join('\n                  ')}`,
    `Add a domain and a user:  ${mailctl} domain add example.test && ${mailctl} user add alice@example.test`,
    `Look at the queue:        ${mailctl} queue list`,
    ...(moved
      ? [`mailctl on these ports:  export MAILBOX_STORE_ADDRESS=${system.grpcAddress} QUEUE_ADMIN_ADDRESS=${system.queueAdminAddress}   (then plain npx mailctl)`]
      : []),
    'Stop with Ctrl-C.',
  ];
  return lines.join('\n');
}
