// The storage interface of mailbox-store, with two backends: the embedded one (files under DATA_DIR)
// and MongoDB (mongo-store.ts). Every backend must pass the shared conformance suite
// (store-conformance.test-support.ts, run by embedded-store.test.ts and mongo-store.test.ts).
import { createHash } from 'node:crypto';
import type { AuthFailureRecord } from '../auth-throttle.js';

export type { AuthFailureRecord };

export interface Account {
  address: string;
  passwordHash: string;
}

export interface StoredMessage {
  uidl: string;
  size: number;
  receivedAtMs: number;
}

export interface DeliveryKey {
  queueId: string;
  recipient: string;
}

export interface DeliveryOutcome {
  uidl: string;
  /** True when this (queue id, recipient) had been stored already: nothing new was written. */
  duplicate: boolean;
}

/** A DKIM signing key of a local domain (RFC 6376): the private half never leaves mailbox-store but to delivery-agent. */
export interface DkimKey {
  domain: string;
  selector: string;
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  createdAtMs: number;
  /** When it starts signing (a rotation adds the key ahead of time); absent: from its creation (keys stored before rotation existed). */
  signsFromMs?: number;
}

export class StoreError extends Error {
  constructor(
    readonly kind: 'not-found' | 'exists' | 'locked' | 'invalid' | 'too-large',
    message: string,
  ) {
    super(message);
  }
}

export interface MailStore {
  addDomain(domain: string): Promise<void>;
  removeDomain(domain: string): Promise<void>;
  listDomains(): Promise<string[]>;
  isLocalDomain(domain: string): Promise<boolean>;
  /**
   * Names the account that receives postmaster@<domain> ("not-found" for an unknown domain); with
   * `ifUnnamed`, only when the domain has none yet (false: it had one, nothing changed).
   */
  setDomainPostmaster(domain: string, address: string, ifUnnamed?: boolean): Promise<boolean>;
  /** The postmaster account of every domain that has one named. */
  domainPostmasters(): Promise<Map<string, string>>;
  /** Adds a signing key to a local domain ("not-found" for an unknown domain, "exists" for a selector in use). */
  addDkimKey(key: DkimKey): Promise<void>;
  /** Removes a domain's key by selector ("not-found" when there is none). */
  removeDkimKey(domain: string, selector: string): Promise<void>;
  /** The keys of one domain, or of every domain, oldest first. Removing a domain removes its keys. */
  listDkimKeys(domain?: string): Promise<DkimKey[]>;

  addAccount(account: Account): Promise<void>;
  removeAccount(address: string): Promise<void>;
  setPasswordHash(address: string, passwordHash: string): Promise<void>;
  getAccount(address: string): Promise<Account | undefined>;
  listAccounts(domain?: string): Promise<string[]>;

  /** Stores one message durably (it is visible only once complete) and idempotently by `key`. */
  deliver(mailbox: string, key: DeliveryKey, body: AsyncIterable<Uint8Array>): Promise<DeliveryOutcome>;
  listMessages(mailbox: string): Promise<StoredMessage[]>;
  readMessage(mailbox: string, uidl: string): AsyncIterable<Uint8Array>;
  deleteMessages(mailbox: string, uidls: string[]): Promise<number>;

  /** Takes the maildrop lock; returns the lease id, or undefined when another live lease holds it. */
  acquireLease(mailbox: string, ttlMs: number): Promise<string | undefined>;
  /** Extends a lease; false when the lease is no longer held. */
  renewLease(mailbox: string, leaseId: string, ttlMs: number): Promise<boolean>;
  releaseLease(mailbox: string, leaseId: string): Promise<void>;
  hasLease(mailbox: string, leaseId: string): Promise<boolean>;

  // Failed-login records, one per key ("login:…", "ip:…", "account:…"; see authThrottleKeys in
  // @mail/platform). The service decides (window, lock, delay); the backend keeps the records, shared by all
  // its replicas.
  /** The records of these keys at `now`: failures after `since`, and the lock. Keys with neither are absent. */
  getAuthFailures(keys: string[], since: number): Promise<Map<string, AuthFailureRecord>>;
  /**
   * Records one failure of `key` at `now`, kept for `windowMs`. Returns the key's record with the failures
   * after `now - windowMs`: this one and every one recorded before it, on any replica (so concurrent
   * failures can never all see a count below the real one). A failure with a `tag` that one of the key's
   * failures in the window already has is not recorded again (the same wrong password tried twice).
   */
  addAuthFailure(key: string, now: number, windowMs: number, tag?: string): Promise<AuthFailureRecord>;
  /** Every key with failures after `since` or a lock that lasts beyond `now` (for the operator). */
  listAuthRecords(since: number, now: number): Promise<Array<AuthFailureRecord & { key: string }>>;
  /** Locks `key` until `untilMs`; a lock that ends later already stays as it is. */
  lockAuth(key: string, untilMs: number): Promise<void>;
  /** Forgets the key's failures and lock (a successful login clears its login key's; an operator's unlock). */
  clearAuthFailures(key: string): Promise<void>;
  /** Removes the failures older than their window and the locks that have ended by `now`; returns how many. */
  pruneAuthFailures(now: number): Promise<number>;

  close(): Promise<void>;
}

/**
 * How long a delivery stays recognised after its message was deleted by its user, so that a repeated
 * delivery (a result lost on its way back to the queue) does not bring it back: the queue's lifetime
 * (5 days by default) and then some.
 */
export const DEFAULT_DELIVERY_RECORD_MS = 7 * 24 * 60 * 60 * 1000;

/** The key by which a delivery is idempotent, also used as the POP3 unique-id (RFC 1939: 0x21-0x7E, <= 70). */
export function deliveryUidl(key: DeliveryKey): string {
  return createHash('sha256').update(key.queueId).update('\0').update(key.recipient.toLowerCase()).digest('hex').slice(0, 40);
}
