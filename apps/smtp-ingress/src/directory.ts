// mailbox-store as seen by smtp-ingress: recipient checks (LookupRecipient) and credential checks
// (Authenticate) with failed-login throttling per client address and per account.
import { MailboxStoreClient, RecipientKind } from '@mail/contracts';
import { AuthThrottle, grpc, unary } from '@mail/platform';
import type { AuthOutcome, RecipientVerdict } from './protocol/session.js';

export class MailboxDirectory {
  private readonly client: MailboxStoreClient;

  constructor(
    address: string,
    grpcTls: { credentials: grpc.ChannelCredentials; options: grpc.ClientOptions },
    private readonly timeoutMs: number,
    private readonly throttle: AuthThrottle,
    private readonly onAuthFailure: () => void = () => undefined,
  ) {
    this.client = new MailboxStoreClient(address, grpcTls.credentials, grpcTls.options);
  }

  async check(address: string): Promise<RecipientVerdict> {
    const reply = await unary(this.client.lookupRecipient.bind(this.client), { address }, this.timeoutMs);
    switch (reply.kind) {
      case RecipientKind.RECIPIENT_KIND_LOCAL_USER:
        return 'local';
      case RecipientKind.RECIPIENT_KIND_REMOTE_DOMAIN:
        return 'remote';
      default:
        return 'unknown-user';
    }
  }

  async authenticate(clientAddress: string, user: string, password: string): Promise<AuthOutcome> {
    if (this.throttle.locked(clientAddress, user)) return { ok: false, locked: true };
    const reply = await unary(this.client.authenticate.bind(this.client), { address: user, password }, this.timeoutMs);
    if (reply.ok) {
      this.throttle.succeeded(user);
      return { ok: true, mailbox: reply.mailbox };
    }
    this.onAuthFailure();
    // The growing delay slows a password guesser down; the answer itself stays the same.
    await new Promise((resolve) => setTimeout(resolve, this.throttle.failed(clientAddress, user)));
    return { ok: false };
  }

  close(): void {
    this.client.close();
  }
}
