// Local delivery: hands a message to mailbox-store's Deliver for each local recipient and classifies
// the answer as delivered, permanent (a bounce) or temporary (try again later).
import { MailboxStoreClient, RecipientKind, type DeliverReply, type RecipientResult } from '@mail/contracts';
import { channelReady, deadline, grpc, unary } from '@mail/platform';

const CHUNK_BYTES = 256 * 1024;

/** gRPC codes that no retry will change. */
const PERMANENT: ReadonlyMap<grpc.status, string> = new Map([
  [grpc.status.NOT_FOUND, '550 5.1.1 mailbox unavailable'],
  [grpc.status.RESOURCE_EXHAUSTED, '552 5.2.2 message too large for mailbox'],
  [grpc.status.INVALID_ARGUMENT, '554 5.6.0 message refused by mailbox store'],
]);

export class LocalDelivery {
  private readonly client: MailboxStoreClient;

  constructor(
    address: string,
    grpcTls: { credentials: grpc.ChannelCredentials; options: grpc.ClientOptions },
    private readonly timeoutMs: number,
  ) {
    this.client = new MailboxStoreClient(address, grpcTls.credentials, grpcTls.options);
  }

  private readonly localDomains = new Map<string, { local: boolean; until: number }>();

  /** Whether mailbox-store keeps mail for the domain (cached for 30 s). */
  async isLocalDomain(domain: string): Promise<boolean> {
    const cached = this.localDomains.get(domain);
    if (cached && cached.until > Date.now()) return cached.local;
    const reply = await unary(this.client.lookupRecipient.bind(this.client), { address: `postmaster@${domain}` }, this.timeoutMs);
    const local = reply.kind === RecipientKind.RECIPIENT_KIND_LOCAL_USER;
    this.localDomains.set(domain, { local, until: Date.now() + 30_000 });
    return local;
  }

  async deliver(queueId: string, sender: string, recipient: string, message: Uint8Array): Promise<RecipientResult> {
    try {
      const reply = await this.send(queueId, sender, recipient, message);
      return { recipient, outcome: 'delivered', reply: `250 2.0.0 delivered as ${reply.uidl}${reply.duplicate ? ' (already stored)' : ''}` };
    } catch (err) {
      const code = (err as grpc.ServiceError).code;
      const permanent = PERMANENT.get(code);
      if (permanent) return { recipient, outcome: 'permanent', reply: `${permanent}: ${(err as grpc.ServiceError).details ?? ''}`.trim() };
      return { recipient, outcome: 'temporary', reply: `451 4.3.0 mailbox store unavailable: ${(err as Error).message}` };
    }
  }

  private send(queueId: string, sender: string, recipient: string, message: Uint8Array): Promise<DeliverReply> {
    return new Promise((resolve, reject) => {
      const call = this.client.deliver({ deadline: deadline(this.timeoutMs), waitForReady: true } as Partial<grpc.CallOptions>, (err, reply) => (err ? reject(err) : resolve(reply)));
      call.write({ part: { $case: 'header', value: { queueId, recipient, returnPath: sender, size: message.length } } });
      for (let offset = 0; offset < message.length; offset += CHUNK_BYTES) {
        const slice = message.subarray(offset, offset + CHUNK_BYTES);
        call.write({ part: { $case: 'data', value: Buffer.from(slice.buffer, slice.byteOffset, slice.byteLength) } });
      }
      call.end();
    });
  }

  /** mailbox-store is reachable (for /readyz). */
  ready(): boolean {
    return channelReady(this.client);
  }

  close(): void {
    this.client.close();
  }
}
