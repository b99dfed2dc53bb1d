// Delivery into mailbox-store over gRPC, for mail that reaches delivery-agent on the remote lane but is
// for a domain mailbox-store keeps (a notice to a local sender: queue-manager does not know the local
// domains); the local lane itself is mailbox-store's own (apps/mailbox-store/src/local-lane.ts). The
// answer becomes delivered, permanent (a bounce) or temporary (try again later). Small messages travel together:
// the deliveries of the moment are gathered into one DeliverMany call (a batch leaves at once when a
// call slot is free, so a lone delivery waits for nothing); large ones stream through Deliver.
import { DeliveringMailboxStoreClient, MailboxStoreClient, RecipientKind, type DeliveryHeader, type DeliveryItem, type DeliveryItemReply, type RecipientResult } from '@mail/contracts';
import { Batcher, channelReady, deadline, grpc, mailboxDeliveryResult, mailboxUnavailableResult, unary } from '@mail/platform';
import type { SigningKey } from './dkim-signer.js';

const CHUNK_BYTES = 256 * 1024;
/** Messages up to this size go in DeliverMany batches; larger ones stream on their own. */
const BATCH_ITEM_BYTES = 256 * 1024;
/** A batch stays well under gRPC's default 4 MiB message limit. */
const BATCH_BYTES = 3 * 1024 * 1024;
const BATCH_ITEMS = 64;
/** DeliverMany calls out at once; while they run, the next batch gathers. */
const BATCH_CALLS = 4;

export class LocalDelivery {
  private readonly client: MailboxStoreClient;

  private readonly batches: Batcher<DeliveryItem, DeliveryItemReply>;

  constructor(
    address: string,
    grpcTls: { credentials: grpc.ChannelCredentials; options: grpc.ClientOptions },
    private readonly timeoutMs: number,
  ) {
    this.client = new DeliveringMailboxStoreClient(address, grpcTls.credentials, grpcTls.options);
    this.batches = new Batcher(
      (items: DeliveryItem[]) =>
        new Promise((resolve, reject) =>
          this.client.deliverMany({ items }, new grpc.Metadata(), { deadline: deadline(this.timeoutMs), waitForReady: true } as Partial<grpc.CallOptions>, (err, reply) =>
            err ? reject(err) : resolve(reply.replies),
          ),
        ),
      { maxItems: BATCH_ITEMS, maxCalls: BATCH_CALLS, maxBytes: BATCH_BYTES, sizeOf: (item) => item.data.length },
    );
  }

  private readonly localDomains = new Map<string, { local: boolean; until: number }>();

  /**
   * Whether postmaster@domain is a mailbox of mailbox-store (cached for 30 s): how delivery-agent tells
   * that mailbox-store keeps mail for the domain, since every domain it keeps has its postmaster. It is a
   * recipient lookup, not a domain lookup: the name says what it asks.
   */
  async hasLocalPostmaster(domain: string): Promise<boolean> {
    const cached = this.localDomains.get(domain);
    if (cached && cached.until > Date.now()) return cached.local;
    const reply = await unary(this.client.lookupRecipient.bind(this.client), { address: `postmaster@${domain}` }, this.timeoutMs);
    const local = reply.kind === RecipientKind.RECIPIENT_KIND_LOCAL_USER;
    this.localDomains.set(domain, { local, until: Date.now() + 30_000 });
    return local;
  }

  /** mailbox-store also keeps the domains' DKIM keys: the newest of `domain`, undefined when it has none. */
  async signingKey(domain: string): Promise<SigningKey | undefined> {
    try {
      return await unary(this.client.getSigningKey.bind(this.client), { domain, postmaster: '' }, this.timeoutMs);
    } catch (err) {
      if ((err as grpc.ServiceError).code === grpc.status.NOT_FOUND) return undefined;
      throw err;
    }
  }

  async deliver(queueId: string, sender: string, recipient: string, message: Uint8Array): Promise<RecipientResult> {
    const header = { queueId, recipient, returnPath: sender, size: message.length };
    let reply: DeliveryItemReply;
    try {
      reply = message.length <= BATCH_ITEM_BYTES ? await this.batches.add({ header, data: Buffer.from(message.buffer, message.byteOffset, message.byteLength) }) : await this.stream(header, message);
    } catch (err) {
      return mailboxUnavailableResult(recipient, (err as Error).message);
    }
    return mailboxDeliveryResult(recipient, reply);
  }

  /** One large message through the streaming Deliver; its answer, failure included, as a DeliverMany item reply. */
  private stream(header: DeliveryHeader, message: Uint8Array): Promise<DeliveryItemReply> {
    return new Promise((resolve) => {
      const call = this.client.deliver({ deadline: deadline(this.timeoutMs), waitForReady: true } as Partial<grpc.CallOptions>, (err, reply) =>
        resolve(err ? { code: err.code, details: err.details || err.message, uidl: '', duplicate: false } : { code: grpc.status.OK, details: '', ...reply }),
      );
      call.write({ part: { $case: 'header', value: header } });
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
