// Recipient checks through mailbox-store's LookupRecipient.
import { MailboxStoreClient, RecipientKind } from '@mail/contracts';
import { clientChannelOptions, insecureCredentials, unary } from '@mail/platform';
import type { RecipientVerdict } from './protocol/session.js';

export class RecipientDirectory {
  private readonly client: MailboxStoreClient;

  constructor(
    address: string,
    private readonly timeoutMs: number,
  ) {
    this.client = new MailboxStoreClient(address, insecureCredentials(), clientChannelOptions);
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

  close(): void {
    this.client.close();
  }
}
