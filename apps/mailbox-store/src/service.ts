// The MailboxStore gRPC service: validates requests, applies the storage interface, maps errors to codes.
// Authenticate applies the failed-login throttle (login-throttle.ts) on the backend's records, so that it
// holds across every replica of smtp-ingress and pop3-access.
import type { Logger } from 'pino';
import {
  RecipientKind,
  type DeliverChunk,
  type DeliveryHeader,
  type DeliveryItemReply,
  type MailboxStoreServer,
} from '@mail/contracts';
import { grpc, RpcError, toServiceError } from '@mail/platform';
import { type AuthThrottleSettings } from './auth-throttle.js';
import { isPostmaster, normaliseAddress, splitAddress } from './addresses.js';
import { dkimKeyInfo, keyInfosWithSigning, makeDkimKey, requireSelector, signingKeyAt } from './dkim-keys.js';
import { MailboxEvents } from './events.js';
import { createLoginChecks } from './login-throttle.js';
import { hashPassword } from './passwords.js';
import { StoreError, type MailStore } from './store/types.js';

/** Pieces of a streamed message (FetchMessage) written ahead of what HTTP/2 has sent. */
const STREAM_CHUNKS_AHEAD = 2;

const DOMAIN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export interface ServiceOptions {
  maxLeaseSeconds: number;
  /** Failed-login throttling (AUTH_* settings). */
  authThrottle: AuthThrottleSettings;
  /** The clock of the throttle (tests move it). */
  now?: () => number;
}

/** What one FetchMessages answer carries at most: below gRPC's default 4 MiB receive limit. */
const MAX_FETCH_MANY_BYTES = 3 * 1024 * 1024;
const FETCH_MANY_READS_AT_ONCE = 8;

/** A whole message in one buffer (FetchMessages; its callers ask only for small ones). */
/** The message's bytes in one buffer; undefined (and no more read) once it passes `limit`. */
async function wholeMessage(content: AsyncIterable<Uint8Array>, limit = Number.POSITIVE_INFINITY): Promise<Buffer | undefined> {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of content) {
    bytes += chunk.byteLength;
    if (bytes > limit) return undefined; // leaving the loop closes the store's stream
    chunks.push(chunk);
  }
  return chunks.length === 1 ? Buffer.from(chunks[0]!.buffer, chunks[0]!.byteOffset, chunks[0]!.byteLength) : Buffer.concat(chunks);
}

function storeErrorCode(err: StoreError): grpc.status {
  switch (err.kind) {
    case 'not-found':
      return grpc.status.NOT_FOUND;
    case 'exists':
      return grpc.status.ALREADY_EXISTS;
    case 'locked':
      return grpc.status.FAILED_PRECONDITION;
    case 'too-large':
      return grpc.status.RESOURCE_EXHAUSTED;
    case 'invalid':
      return grpc.status.INVALID_ARGUMENT;
  }
}

function rpcFailure(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof StoreError) return { code: storeErrorCode(err), details: err.message };
  return toServiceError(err);
}

/** The status a failed call answers with; an error that is not a refusal of ours is reported first. */
function failureOf(events: MailboxEvents, rpc: string, err: unknown): Partial<grpc.StatusObject> {
  if (!(err instanceof StoreError) && !(err instanceof RpcError)) events.emit({ event: 'rpc-failed', rpc, error: errorText(err) });
  return rpcFailure(err);
}

/** Wraps an async unary handler: its result or its error reaches the callback exactly once. */
function unaryHandler<Req, Res>(events: MailboxEvents, name: string, handle: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    handle(call.request).then(
      (res) => callback(null, res),
      (err: unknown) => callback(failureOf(events, name, err), null),
    );
  };
}

function requireDomain(domain: string): string {
  const name = domain.trim().toLowerCase();
  if (!DOMAIN.test(name)) throw new RpcError(grpc.status.INVALID_ARGUMENT, `invalid domain name: ${JSON.stringify(domain)}`);
  return name;
}

function requireAddress(address: string): string {
  const name = normaliseAddress(address);
  const parts = splitAddress(name);
  if (!parts || /[\s<>]/.test(name)) throw new RpcError(grpc.status.INVALID_ARGUMENT, `invalid address: ${JSON.stringify(address)}`);
  requireDomain(parts.domain);
  return name;
}

function requirePassword(password: string): string {
  if (password.length < 1) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'empty password');
  if (password.length > 1024) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'password longer than 1024 characters');
  return password;
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The gRPC service, and what the local lane (local-lane.ts) delivers through and reports on. */
export interface Mailboxes {
  service: MailboxStoreServer;
  events: MailboxEvents;
  deliverItem(header: DeliveryHeader | undefined, data: Uint8Array, caller: string): Promise<DeliveryItemReply>;
}

export function createMailboxService(store: MailStore, logger: Logger, options: ServiceOptions): MailboxStoreServer {
  return createMailboxes(store, logger, options).service;
}

export function createMailboxes(store: MailStore, logger: Logger, options: ServiceOptions): Mailboxes {
  const events = new MailboxEvents(logger);
  const logins = createLoginChecks(store, events, options.authThrottle, options.now ?? Date.now);

  const leaseMs = (seconds: number) => Math.min(Math.max(seconds, 30), options.maxLeaseSeconds) * 1000;

  async function requireLease(mailbox: string, leaseId: string): Promise<string> {
    const name = normaliseAddress(mailbox);
    if (!(await store.hasLease(name, leaseId))) throw new RpcError(grpc.status.FAILED_PRECONDITION, 'maildrop lease not held');
    return name;
  }

  /**
   * Resolves a recipient to the mailbox that receives its mail. postmaster (RFC 5321 §4.5.1: always
   * accepted) goes to the postmaster account of its domain, else to the first domain's that has one (the
   * site's postmaster; also for the bare <postmaster>); while no account is named anywhere, the mailbox is
   * "" and Deliver answers UNAVAILABLE, so the mail waits in the queue until one is named.
   */
  async function resolveRecipient(address: string): Promise<{ kind: RecipientKind; mailbox: string }> {
    const trimmed = address.trim();
    if (isPostmaster(trimmed)) return { kind: RecipientKind.RECIPIENT_KIND_LOCAL_USER, mailbox: await postmasterOf(undefined) };
    const parts = splitAddress(trimmed);
    if (!parts) return { kind: RecipientKind.RECIPIENT_KIND_UNKNOWN_USER, mailbox: '' };
    if (!(await store.isLocalDomain(parts.domain))) return { kind: RecipientKind.RECIPIENT_KIND_REMOTE_DOMAIN, mailbox: '' };
    if (isPostmaster(parts.local)) return { kind: RecipientKind.RECIPIENT_KIND_LOCAL_USER, mailbox: await postmasterOf(parts.domain) };
    const mailbox = normaliseAddress(trimmed);
    if (await store.getAccount(mailbox)) return { kind: RecipientKind.RECIPIENT_KIND_LOCAL_USER, mailbox };
    return { kind: RecipientKind.RECIPIENT_KIND_UNKNOWN_USER, mailbox: '' };
  }

  /** The existing account that receives the postmaster mail of `domain` (or of the site), or "". */
  async function postmasterOf(domain: string | undefined): Promise<string> {
    const named = await store.domainPostmasters();
    const candidates = [...(domain ? [named.get(domain)] : []), ...[...named.keys()].sort().map((d) => named.get(d))];
    for (const account of candidates) if (account && (await store.getAccount(account))) return account;
    return '';
  }

  /** A postmaster given as a local part means that local part in `domain`. */
  const postmasterAddress = (postmaster: string, domain: string) => requireAddress(postmaster.includes('@') ? postmaster : `${postmaster}@${domain}`);

  /** One delivery into the recipient's mailbox, with the Return-Path line of RFC 5321 §4.4 in front. */
  async function deliverTo(header: DeliveryHeader, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<{ uidl: string; duplicate: boolean }> {
    const target = await resolveRecipient(header.recipient);
    if (target.kind !== RecipientKind.RECIPIENT_KIND_LOCAL_USER) {
      throw new RpcError(grpc.status.NOT_FOUND, `no mailbox for ${header.recipient}`);
    }
    if (!target.mailbox) throw new RpcError(grpc.status.UNAVAILABLE, `no postmaster account named yet for ${header.recipient} (mailctl domain postmaster)`);
    const body = (async function* () {
      yield Buffer.from(`Return-Path: <${header.returnPath}>\r\n`);
      yield* data;
    })();
    const outcome = await store.deliver(target.mailbox, { queueId: header.queueId, recipient: header.recipient }, body);
    events.emit({ event: 'delivered', queueId: header.queueId, mailbox: target.mailbox, uidl: outcome.uidl, duplicate: outcome.duplicate });
    return outcome;
  }

  /**
   * One whole message into one recipient's mailbox, answered as a DeliverMany item (a status code, never a
   * throw): DeliverMany's items, and the local lane's deliveries (local-lane.ts), which `caller` names.
   */
  async function deliverItem(header: DeliveryHeader | undefined, data: Uint8Array, caller: string): Promise<DeliveryItemReply> {
    try {
      if (!header) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'a DeliverMany item needs its header');
      if (header.size > 0 && data.length !== header.size) throw new RpcError(grpc.status.ABORTED, `message data incomplete: ${data.length} of ${header.size} bytes`);
      const outcome = await deliverTo(header, [data]);
      return { code: grpc.status.OK, details: '', ...outcome };
    } catch (err) {
      const failure = failureOf(events, caller, err);
      return { code: failure.code ?? grpc.status.UNKNOWN, details: failure.details ?? '', uidl: '', duplicate: false };
    }
  }

  const service: MailboxStoreServer = {
    addDomain: unaryHandler(events, 'AddDomain', async (req) => {
      const domain = requireDomain(req.domain);
      const postmaster = req.postmaster ? postmasterAddress(req.postmaster, domain) : undefined;
      await store.addDomain(domain);
      if (postmaster) await store.setDomainPostmaster(domain, postmaster);
      return {};
    }),
    setDomainPostmaster: unaryHandler(events, 'SetDomainPostmaster', async (req) => {
      const domain = requireDomain(req.domain);
      const postmaster = postmasterAddress(req.postmaster, domain);
      if (!(await store.getAccount(postmaster))) throw new RpcError(grpc.status.NOT_FOUND, `no account ${postmaster}`);
      await store.setDomainPostmaster(domain, postmaster);
      return {};
    }),
    addDkimKey: unaryHandler(events, 'AddDkimKey', async (req) => {
      const domain = requireDomain(req.domain);
      const now = new Date();
      const selector = requireSelector(req.selector, now);
      if (!(await store.isLocalDomain(domain))) throw new RpcError(grpc.status.NOT_FOUND, `no domain ${domain}`);
      const key = await makeDkimKey(domain, selector, req.algorithm, now, Number(req.signsFromMs));
      await store.addDkimKey(key);
      return dkimKeyInfo(key);
    }),
    listDkimKeys: unaryHandler(events, 'ListDkimKeys', async (req) => ({
      keys: keyInfosWithSigning(await store.listDkimKeys(req.domain.trim() ? requireDomain(req.domain) : undefined), Date.now()),
    })),
    getSigningKey: unaryHandler(events, 'GetSigningKey', async (req) => {
      const domain = requireDomain(req.domain);
      const signing = signingKeyAt(await store.listDkimKeys(domain), Date.now());
      if (!signing) throw new RpcError(grpc.status.NOT_FOUND, `no DKIM key for ${domain} signs now`);
      return { domain, selector: signing.selector, algorithm: signing.algorithm, privateKeyPem: signing.privateKeyPem };
    }),
    removeDkimKey: unaryHandler(events, 'RemoveDkimKey', async (req) => {
      await store.removeDkimKey(requireDomain(req.domain), requireSelector(req.selector, new Date()));
      return {};
    }),
    removeDomain: unaryHandler(events, 'RemoveDomain', async (req) => {
      await store.removeDomain(requireDomain(req.domain));
      return {};
    }),
    listDomains: unaryHandler(events, 'ListDomains', async () => {
      const [domains, postmasters] = await Promise.all([store.listDomains(), store.domainPostmasters()]);
      return { domains, postmasters: domains.map((d) => postmasters.get(d) ?? '') };
    }),
    addUser: unaryHandler(events, 'AddUser', async (req) => {
      const address = requireAddress(req.address);
      await store.addAccount({ address, passwordHash: await hashPassword(requirePassword(req.password)) });
      // The first user of a domain receives its postmaster mail unless someone was named (mailctl domain add --postmaster).
      await store.setDomainPostmaster(splitAddress(address)!.domain, address, true);
      return {};
    }),
    removeUser: unaryHandler(events, 'RemoveUser', async (req) => {
      await store.removeAccount(requireAddress(req.address));
      return {};
    }),
    setPassword: unaryHandler(events, 'SetPassword', async (req) => {
      const address = requireAddress(req.address);
      await store.setPasswordHash(address, await hashPassword(requirePassword(req.password)));
      return {};
    }),
    listUsers: unaryHandler(events, 'ListUsers', async (req) => ({
      addresses: await store.listAccounts(req.domain ? requireDomain(req.domain) : undefined),
    })),
    lookupRecipient: unaryHandler(events, 'LookupRecipient', (req) => resolveRecipient(req.address)),
    authenticate: unaryHandler(events, 'Authenticate', logins.authenticate),
    listAuthRecords: unaryHandler(events, 'ListAuthRecords', async () => ({ records: await logins.listRecords() })),
    clearAuthRecords: unaryHandler(events, 'ClearAuthRecords', async (req) => ({ cleared: await logins.clearRecords(req) })),
    testPassword: unaryHandler(events, 'TestPassword', (req) => logins.testPassword(req.address, req.password)),
    mailboxStat: unaryHandler(events, 'MailboxStat', async (req) => {
      const mailbox = requireAddress(req.address);
      if (!(await store.getAccount(mailbox))) throw new RpcError(grpc.status.NOT_FOUND, `no account ${mailbox}`);
      const messages = await store.listMessages(mailbox);
      const arrivals = messages.map((m) => m.receivedAtMs);
      return {
        mailbox,
        messages: messages.length,
        bytes: messages.reduce((sum, m) => sum + m.size, 0),
        oldestReceivedAtMs: arrivals.length ? Math.min(...arrivals) : 0,
        newestReceivedAtMs: arrivals.length ? Math.max(...arrivals) : 0,
      };
    }),

    deliver: (call, callback) => {
      void (async () => {
        // Not destroyed when the loop below ends: destroying a finished call costs an AbortError and a
        // write-after-end error per delivery.
        const messages = call.iterator({ destroyOnReturn: false }) as AsyncIterator<DeliverChunk>;
        const first = await messages.next();
        if (first.done || first.value.part?.$case !== 'header') {
          throw new RpcError(grpc.status.INVALID_ARGUMENT, 'the first Deliver message must be the header');
        }
        const header = first.value.part.value;
        return deliverTo(header, (async function* () {
          let received = 0;
          for (let next = await messages.next(); !next.done; next = await messages.next()) {
            if (next.value.part?.$case === 'data') {
              received += next.value.part.value.length;
              yield next.value.part.value;
            }
          }
          // A stream that ended early (the sender died, the call was cancelled) must not be committed:
          // throwing here makes the store drop what it wrote.
          if (call.cancelled || (header.size > 0 && received !== header.size)) {
            throw new RpcError(grpc.status.ABORTED, `message data incomplete: ${received} of ${header.size} bytes`);
          }
        })());
      })().then(
        (outcome) => callback(null, outcome),
        (err: unknown) => callback(failureOf(events, 'Deliver', err), null),
      );
    },

    deliverMany: unaryHandler(events, 'DeliverMany', async (req) => ({
      // Side by side: the store's group commit shares one directory sync among them.
      replies: await Promise.all(req.items.map(({ header, data }) => deliverItem(header, data, 'DeliverMany'))),
    })),

    openMaildrop: unaryHandler(events, 'OpenMaildrop', async (req) => {
      const mailbox = normaliseAddress(req.mailbox);
      const leaseId = await store.acquireLease(mailbox, leaseMs(req.leaseSeconds || options.maxLeaseSeconds));
      if (!leaseId) throw new StoreError('locked', 'maildrop is locked by another session');
      const messages = await store.listMessages(mailbox);
      return {
        leaseId,
        messages: messages.map((m) => ({ uidl: m.uidl, size: m.size, receivedAtMs: m.receivedAtMs })),
      };
    }),
    renewMaildrop: unaryHandler(events, 'RenewMaildrop', async (req) => {
      if (!(await store.renewLease(normaliseAddress(req.mailbox), req.leaseId, leaseMs(options.maxLeaseSeconds)))) {
        throw new StoreError('locked', 'maildrop lease lost');
      }
      return {};
    }),
    fetchMessage: (call) => {
      void (async () => {
        const mailbox = await requireLease(call.request.mailbox, call.request.leaseId);
        // At most STREAM_CHUNKS_AHEAD pieces handed to gRPC and not yet taken by HTTP/2 (a write's callback
        // comes once its bytes are sent, within the flow-control window): a client that stops reading holds
        // that much here, not the 16 pieces (1 MiB) of the stream's own buffer.
        const sent: Promise<void>[] = [];
        const gone = new Promise<void>((resolve) => {
          call.once('cancelled', () => resolve());
          call.once('close', () => resolve());
        });
        for await (const data of store.readMessage(mailbox, call.request.uidl)) {
          if (call.cancelled) return;
          const written = new Promise<void>((resolve) => call.write({ data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) }, () => resolve()));
          sent.push(Promise.race([written, gone]));
          if (sent.length >= STREAM_CHUNKS_AHEAD) await sent.shift();
        }
        call.end();
      })().catch((err: unknown) => {
        const failure = failureOf(events, 'FetchMessage', err);
        call.destroy(Object.assign(new Error(failure.details ?? 'error'), failure));
      });
    },
    fetchMessages: unaryHandler(events, 'FetchMessages', async (req) => {
      const mailbox = await requireLease(req.mailbox, req.leaseId);
      // A read stops once its message cannot fit in what is left of the answer: a large message is
      // refused having been read only that far, not whole.
      const read = (uidl: string, room: number) =>
        wholeMessage(store.readMessage(mailbox, uidl), room).then(
          (data) => ({ uidl, data, missing: false }),
          (err: unknown) => {
            if (err instanceof StoreError && err.kind === 'not-found') return { uidl, data: Buffer.alloc(0), missing: true };
            throw err;
          },
        );
      const messages: { uidl: string; data: Buffer; missing: boolean }[] = [];
      let bytes = 0;
      // A few reads at a time: the disk works on several, and no more is read than the answer can carry.
      for (let start = 0; start < req.uidls.length; start += FETCH_MANY_READS_AT_ONCE) {
        const room = MAX_FETCH_MANY_BYTES - bytes;
        for (const { uidl, data, missing } of await Promise.all(req.uidls.slice(start, start + FETCH_MANY_READS_AT_ONCE).map((uidl) => read(uidl, room)))) {
          if (!data || bytes + data.length > MAX_FETCH_MANY_BYTES) {
            if (messages.length === 0) throw new StoreError('too-large', `message ${uidl} is too large for FetchMessages; use FetchMessage`);
            return { messages }; // the caller asks again for the rest
          }
          bytes += data.length;
          messages.push({ uidl, data, missing });
        }
      }
      return { messages };
    }),
    closeMaildrop: unaryHandler(events, 'CloseMaildrop', async (req) => {
      const mailbox = await requireLease(req.mailbox, req.leaseId);
      const deleted = await store.deleteMessages(mailbox, req.deleteUidls);
      await store.releaseLease(mailbox, req.leaseId);
      return { deleted };
    }),
  };
  return { service, events, deliverItem };
}
