// Who may call what on mailbox-store, by client identity (the subject CN of its certificate under
// mutual TLS): the edges check recipients and passwords, pop3-access alone opens maildrops,
// delivery-agent alone delivers, and only mailctl administers. Enforced when GRPC_MTLS is on.
import type { MailboxStoreService } from '@mail/contracts';
import type { CallerPolicy } from '@mail/platform';

const ADMIN = ['mailctl'];

export const MAILBOX_STORE_CALLERS: CallerPolicy<typeof MailboxStoreService> = {
  addDomain: ADMIN,
  removeDomain: ADMIN,
  setDomainPostmaster: ADMIN,
  listDomains: ADMIN,
  addUser: ADMIN,
  removeUser: ADMIN,
  setPassword: ADMIN,
  listUsers: ADMIN,
  listAuthRecords: ADMIN,
  clearAuthRecords: ADMIN,
  testPassword: ADMIN,
  mailboxStat: ADMIN,
  addDkimKey: ADMIN,
  listDkimKeys: ADMIN,
  removeDkimKey: ADMIN,
  getSigningKey: ['delivery-agent'],
  // delivery-agent asks for postmaster@<domain> to learn whether a domain is local.
  lookupRecipient: ['smtp-ingress', 'delivery-agent'],
  authenticate: ['smtp-ingress', 'pop3-access'],
  deliver: ['delivery-agent'],
  deliverMany: ['delivery-agent'],
  openMaildrop: ['pop3-access'],
  renewMaildrop: ['pop3-access'],
  fetchMessage: ['pop3-access'],
  fetchMessages: ['pop3-access'],
  closeMaildrop: ['pop3-access'],
};
