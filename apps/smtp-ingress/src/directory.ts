// mailbox-store as seen by smtp-ingress: recipient checks (LookupRecipient) and credential checks
// (Authenticate). mailbox-store keeps the failed-login throttle for every replica of every edge; this side
// passes the client address, answers a lock as such and applies the growing delay before a failure.
import { setTimeout as sleep } from 'node:timers/promises';
import { MailboxStoreClient, RecipientKind } from '@mail/contracts';
import { channelReady, grpc, unary } from '@mail/platform';
import type { AuthOutcome, RecipientVerdict } from './protocol/session.js';

/** Entries the recipient cache holds at most; the oldest go first. */
const CACHE_ENTRIES = 100_000;

export class MailboxDirectory {
  private readonly client: MailboxStoreClient;
  /** Recipients found to exist, until when to believe it (see recipientCacheMs in config.ts). */
  private readonly known = new Map<string, { verdict: RecipientVerdict; until: number }>();

  constructor(
    address: string,
    grpcTls: { credentials: grpc.ChannelCredentials; options: grpc.ClientOptions },
    private readonly timeoutMs: number,
    /** Told about every AUTH attempt's result (logging and metrics), never the password. */
    private readonly onAuth: (user: string, clientAddress: string, result: 'success' | 'failure' | 'locked') => void = () => undefined,
    private readonly recipientCacheMs = 0,
    private readonly now: () => number = Date.now,
  ) {
    this.client = new MailboxStoreClient(address, grpcTls.credentials, grpcTls.options);
  }

  async check(address: string): Promise<RecipientVerdict> {
    const cached = this.known.get(address);
    if (cached && cached.until > this.now()) return cached.verdict;
    const verdict = await this.lookup(address);
    this.known.delete(address);
    if (this.recipientCacheMs > 0 && verdict !== 'unknown-user') {
      if (this.known.size >= CACHE_ENTRIES) this.known.delete(this.known.keys().next().value!);
      this.known.set(address, { verdict, until: this.now() + this.recipientCacheMs });
    }
    return verdict;
  }

  private async lookup(address: string): Promise<RecipientVerdict> {
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
    const request = { address: user, password, clientAddress, service: 'smtp-ingress' };
    const reply = await unary(this.client.authenticate.bind(this.client), request, this.timeoutMs);
    if (reply.ok) {
      this.onAuth(user, clientAddress, 'success');
      return { ok: true, mailbox: reply.mailbox };
    }
    if (reply.locked) {
      this.onAuth(user, clientAddress, 'locked');
      return { ok: false, locked: true, retryAfterMs: reply.retryAfterMs };
    }
    this.onAuth(user, clientAddress, 'failure');
    // The growing delay slows a password guesser down; the answer itself stays the same.
    await sleep(reply.delayMs);
    return { ok: false };
  }

  /** mailbox-store is reachable (for /readyz). */
  ready(): boolean {
    return channelReady(this.client);
  }

  close(): void {
    this.client.close();
  }
}
