// The embedded default backend: accounts in one JSON file, each mailbox a directory of message files.
// Layout under dataDir:
//   accounts.json                       domains and accounts (replaced atomically on every change)
//   leases.json                         the maildrop leases POP3 sessions hold (saved on every change)
//   mailboxes/<mailbox>/tmp/            messages being written (removed at start-up: never visible)
//   mailboxes/<mailbox>/cur/<ms>.<uidl> complete messages; the name carries arrival time and unique id
// Failed-login records live in memory only: one process serves every edge, and a restart forgets them.
import { randomUUID } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KeyedLock } from '@mail/platform';
import { appendDurably, DirectorySyncer, renameIntoDirectory, replaceFileDurably, syncDirectory, writeTempFile } from './durable-files.js';
import { LeaseTable, type Lease } from './leases.js';
import {
  DEFAULT_DELIVERY_RECORD_MS,
  deliveryUidl,
  StoreError,
  type Account,
  type AuthFailureRecord,
  type DeliveryKey,
  type DeliveryOutcome,
  type DkimKey,
  type MailStore,
  type StoredMessage,
} from './types.js';

interface AccountsFile {
  domains: string[];
  accounts: Account[];
  /** Domain → the account that receives its postmaster mail (absent in files written before it existed). */
  postmasters?: Record<string, string>;
  /** Domain → its DKIM signing keys (absent in files written before they existed). */
  dkimKeys?: Record<string, DkimKey[]>;
}

const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1);

/** The maildrop leases held when the process stopped (see leases.ts). */
const LEASES_FILE = 'leases.json';

/** Messages up to this size are read with one call; larger ones are streamed in pieces of it. */
const READ_WHOLE_BYTES = 64 * 1024;

export class EmbeddedStore implements MailStore {
  private accounts: AccountsFile = { domains: [], accounts: [] };
  /**
   * Per-mailbox index of stored messages by uidl, loaded from the directory on first use. The promise is
   * cached, not only its result: two concurrent first uses share one build, so a message stored while a
   * second build read an older directory listing cannot be dropped when that build lands.
   */
  private readonly indexes = new Map<string, Promise<Map<string, StoredMessage>>>();
  /** Serialises changes to one mailbox (check-then-rename of deliveries, deletions). */
  private readonly mailboxLocks = new KeyedLock();
  /** One directory fsync for all the deliveries renamed into a mailbox meanwhile (group commit). */
  private readonly directories = new DirectorySyncer();
  /**
   * Deliveries deleted by their user, per mailbox (uidl → deletion time), kept for the delivery-record
   * time in `mailboxes/<m>/deleted`: a repeat of a delivery (a result lost on the way back to the queue)
   * must not bring a deleted message back. Loaded with the mailbox's index.
   */
  private readonly deletedDeliveries = new Map<string, Map<string, number>>();
  /** Deliveries renamed into place whose directory fsync has not finished: not yet visible, but taken. */
  private readonly committing = new Set<string>();
  private accountsLock: Promise<unknown> = Promise.resolve();
  private readonly leases = new LeaseTable();
  private leaseSave: Promise<void> = Promise.resolve();
  private nextLeaseSave: Promise<void> | undefined;
  /** Failed-login records by key: each failure with the time it stops counting, and the lock. */
  private readonly authFailures = new Map<string, { failures: { at: number; expiresAtMs: number; tag?: string }[]; lockedUntilMs: number }>();

  private constructor(
    private readonly dataDir: string,
    private readonly maxMessageBytes: number,
    private readonly deliveryRecordMs: number,
  ) {}

  /** `deliveryRecordMs`: how long a deleted delivery is still recognised as delivered (at least the queue lifetime). */
  static async open(dataDir: string, maxMessageBytes: number, deliveryRecordMs = DEFAULT_DELIVERY_RECORD_MS): Promise<EmbeddedStore> {
    const store = new EmbeddedStore(dataDir, maxMessageBytes, deliveryRecordMs);
    await mkdir(join(dataDir, 'mailboxes'), { recursive: true });
    try {
      store.accounts = JSON.parse(await readFile(join(dataDir, 'accounts.json'), 'utf8')) as AccountsFile;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      store.leases.restore(JSON.parse(await readFile(join(dataDir, LEASES_FILE), 'utf8')) as Lease[]);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await store.removeUnfinishedWrites();
    return store;
  }

  private async removeUnfinishedWrites(): Promise<void> {
    await rm(join(this.dataDir, 'accounts.json.tmp'), { force: true });
    await rm(join(this.dataDir, `${LEASES_FILE}.tmp`), { force: true });
    for (const name of await readdir(join(this.dataDir, 'mailboxes'))) {
      await rm(join(this.dataDir, 'mailboxes', name, 'tmp'), { recursive: true, force: true });
    }
  }

  private mailboxDir(mailbox: string): string {
    return join(this.dataDir, 'mailboxes', encodeURIComponent(mailbox.toLowerCase()));
  }

  private withMailboxLock<T>(name: string, work: () => Promise<T>): Promise<T> {
    return this.mailboxLocks.run(name.toLowerCase(), work);
  }

  private changeAccounts(change: (file: AccountsFile) => void): Promise<void> {
    const run = async () => {
      const copy: AccountsFile = structuredClone(this.accounts);
      change(copy);
      const finalPath = join(this.dataDir, 'accounts.json');
      await replaceFileDurably(finalPath, Buffer.from(JSON.stringify(copy, null, 1)));
      this.accounts = copy;
    };
    const next = this.accountsLock.then(run, run);
    this.accountsLock = next.catch(() => undefined);
    return next;
  }

  async addDomain(domain: string): Promise<void> {
    const name = domain.toLowerCase();
    await this.changeAccounts((file) => {
      if (file.domains.includes(name)) throw new StoreError('exists', `domain ${name} exists`);
      file.domains.push(name);
      file.domains.sort();
    });
  }

  async removeDomain(domain: string): Promise<void> {
    const name = domain.toLowerCase();
    await this.changeAccounts((file) => {
      if (!file.domains.includes(name)) throw new StoreError('not-found', `no domain ${name}`);
      if (file.accounts.some((a) => domainOf(a.address) === name)) {
        throw new StoreError('invalid', `domain ${name} still has accounts; remove them first`);
      }
      file.domains = file.domains.filter((d) => d !== name);
      if (file.postmasters) delete file.postmasters[name];
      if (file.dkimKeys) delete file.dkimKeys[name];
    });
  }

  async setDomainPostmaster(domain: string, address: string, ifUnnamed = false): Promise<boolean> {
    const name = domain.toLowerCase();
    if (ifUnnamed && this.accounts.postmasters?.[name]) return false;
    let changed = false;
    await this.changeAccounts((file) => {
      if (!file.domains.includes(name)) throw new StoreError('not-found', `no domain ${name}`);
      const postmasters = (file.postmasters ??= {});
      if (ifUnnamed && postmasters[name]) return;
      postmasters[name] = address.toLowerCase();
      changed = true;
    });
    return changed;
  }

  async domainPostmasters(): Promise<Map<string, string>> {
    return new Map(Object.entries(this.accounts.postmasters ?? {}));
  }

  async addDkimKey(key: DkimKey): Promise<void> {
    const name = key.domain.toLowerCase();
    await this.changeAccounts((file) => {
      if (!file.domains.includes(name)) throw new StoreError('not-found', `no domain ${name}`);
      const keys = ((file.dkimKeys ??= {})[name] ??= []);
      if (keys.some((k) => k.selector === key.selector)) throw new StoreError('exists', `domain ${name} has a key with selector ${key.selector}`);
      keys.push({ ...key, domain: name });
    });
  }

  async removeDkimKey(domain: string, selector: string): Promise<void> {
    const name = domain.toLowerCase();
    await this.changeAccounts((file) => {
      const keys = file.dkimKeys?.[name] ?? [];
      if (!keys.some((k) => k.selector === selector)) throw new StoreError('not-found', `domain ${name} has no key with selector ${selector}`);
      file.dkimKeys![name] = keys.filter((k) => k.selector !== selector);
    });
  }

  async listDkimKeys(domain?: string): Promise<DkimKey[]> {
    const all = this.accounts.dkimKeys ?? {};
    const keys = domain === undefined ? Object.values(all).flat() : (all[domain.toLowerCase()] ?? []);
    return keys.map((k) => ({ ...k })).sort((a, b) => a.createdAtMs - b.createdAtMs);
  }

  async listDomains(): Promise<string[]> {
    return [...this.accounts.domains];
  }

  async isLocalDomain(domain: string): Promise<boolean> {
    return this.accounts.domains.includes(domain.toLowerCase());
  }

  async addAccount(account: Account): Promise<void> {
    const address = account.address.toLowerCase();
    await this.changeAccounts((file) => {
      if (!file.domains.includes(domainOf(address))) {
        throw new StoreError('invalid', `domain ${domainOf(address)} is not local; add it first`);
      }
      if (file.accounts.some((a) => a.address === address)) throw new StoreError('exists', `account ${address} exists`);
      file.accounts.push({ address, passwordHash: account.passwordHash });
      file.accounts.sort((a, b) => a.address.localeCompare(b.address));
    });
  }

  async removeAccount(address: string): Promise<void> {
    const name = address.toLowerCase();
    await this.changeAccounts((file) => {
      const before = file.accounts.length;
      file.accounts = file.accounts.filter((a) => a.address !== name);
      if (file.accounts.length === before) throw new StoreError('not-found', `no account ${name}`);
    });
  }

  async setPasswordHash(address: string, passwordHash: string): Promise<void> {
    const name = address.toLowerCase();
    await this.changeAccounts((file) => {
      const account = file.accounts.find((a) => a.address === name);
      if (!account) throw new StoreError('not-found', `no account ${name}`);
      account.passwordHash = passwordHash;
    });
  }

  async getAccount(address: string): Promise<Account | undefined> {
    const name = address.toLowerCase();
    const account = this.accounts.accounts.find((a) => a.address === name);
    return account ? { ...account } : undefined;
  }

  async listAccounts(domain?: string): Promise<string[]> {
    const wanted = domain?.toLowerCase();
    return this.accounts.accounts.filter((a) => !wanted || domainOf(a.address) === wanted).map((a) => a.address);
  }

  private index(mailbox: string): Promise<Map<string, StoredMessage>> {
    const key = mailbox.toLowerCase();
    let index = this.indexes.get(key);
    if (!index) {
      index = this.buildIndex(key);
      this.indexes.set(key, index);
      // A failed build (an I/O error) is not cached: the next use tries again.
      index.catch(() => {
        if (this.indexes.get(key) === index) this.indexes.delete(key);
      });
    }
    return index;
  }

  private async buildIndex(mailbox: string): Promise<Map<string, StoredMessage>> {
    const index = new Map<string, StoredMessage>();
    const dir = join(this.mailboxDir(mailbox), 'cur');
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const name of names) {
      const dot = name.indexOf('.');
      if (dot <= 0) continue;
      const info = await stat(join(dir, name));
      const uidl = name.slice(dot + 1);
      index.set(uidl, { uidl, size: info.size, receivedAtMs: Number(name.slice(0, dot)) });
    }
    this.deletedDeliveries.set(mailbox, await this.loadDeletedDeliveries(mailbox));
    return index;
  }

  /** Reads the record of deleted deliveries, dropping (and rewriting without) those past the record time. */
  private async loadDeletedDeliveries(mailbox: string): Promise<Map<string, number>> {
    const path = join(this.mailboxDir(mailbox), 'deleted');
    const kept = new Map<string, number>();
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const cutoff = Date.now() - this.deliveryRecordMs;
    let expired = 0;
    for (const line of text.split('\n')) {
      const [uidl, at] = line.split(' ');
      if (!uidl || !at) continue;
      if (Number(at) < cutoff) expired++;
      else kept.set(uidl, Number(at));
    }
    if (expired > 0) await replaceFileDurably(path, Buffer.from([...kept].map(([uidl, at]) => `${uidl} ${at}\n`).join('')));
    return kept;
  }

  private isDeletedDelivery(mailbox: string, uidl: string): boolean {
    return this.deletedDeliveries.get(mailbox.toLowerCase())?.has(uidl) ?? false;
  }

  private messagePath(mailbox: string, message: StoredMessage): string {
    return join(this.mailboxDir(mailbox), 'cur', `${String(message.receivedAtMs).padStart(13, '0')}.${message.uidl}`);
  }

  async deliver(mailbox: string, key: DeliveryKey, body: AsyncIterable<Uint8Array>): Promise<DeliveryOutcome> {
    const uidl = deliveryUidl(key);
    if ((await this.index(mailbox)).has(uidl) || this.isDeletedDelivery(mailbox, uidl)) {
      for await (const _ of body); // drain what the caller is sending
      return { uidl, duplicate: true };
    }
    const dir = this.mailboxDir(mailbox);
    const tmpPath = join(dir, 'tmp', `${uidl}.${randomUUID()}`);
    let size: number;
    try {
      // The bytes are written outside the lock; only check-and-rename is serialised per mailbox.
      size = await writeTempFile(tmpPath, body, this.maxMessageBytes);
    } catch (err) {
      if (err instanceof RangeError) throw new StoreError('too-large', err.message);
      throw err;
    }
    const message = { uidl, size, receivedAtMs: Date.now() };
    const published = await this.withMailboxLock(mailbox, async () => {
      const index = await this.index(mailbox);
      if (index.has(uidl) || this.isDeletedDelivery(mailbox, uidl) || this.committing.has(`${mailbox}\n${uidl}`)) {
        await unlink(tmpPath);
        return false;
      }
      renameIntoDirectory(tmpPath, this.messagePath(mailbox, message));
      this.committing.add(`${mailbox}\n${uidl}`);
      return true;
    });
    if (!published) {
      // Delivered before (or being committed by a repeat of this delivery): one copy, whatever happens.
      await this.directories.sync(join(dir, 'cur'));
      return { uidl, duplicate: true };
    }
    try {
      // Outside the lock, shared with the other deliveries of the moment: the rename is durable when this returns.
      await this.directories.sync(join(dir, 'cur'));
      (await this.index(mailbox)).set(uidl, message);
    } finally {
      this.committing.delete(`${mailbox}\n${uidl}`);
    }
    return { uidl, duplicate: false };
  }

  async listMessages(mailbox: string): Promise<StoredMessage[]> {
    const messages = [...(await this.index(mailbox)).values()];
    return messages.sort((a, b) => a.receivedAtMs - b.receivedAtMs || a.uidl.localeCompare(b.uidl));
  }

  async *readMessage(mailbox: string, uidl: string): AsyncIterable<Uint8Array> {
    const message = (await this.index(mailbox)).get(uidl);
    if (!message) throw new StoreError('not-found', `no message ${uidl}`);
    // A small message is one read, in place (from the page cache, microseconds; four thread-pool
    // hand-offs cost more CPU than that); a stream (and its buffers) pays only for large ones.
    if (message.size <= READ_WHOLE_BYTES) yield readFileSync(this.messagePath(mailbox, message));
    else yield* createReadStream(this.messagePath(mailbox, message), { highWaterMark: READ_WHOLE_BYTES });
  }

  async deleteMessages(mailbox: string, uidls: string[]): Promise<number> {
    return this.withMailboxLock(mailbox, async () => {
      const index = await this.index(mailbox);
      const present = uidls.filter((uidl) => index.has(uidl));
      if (present.length === 0) return 0;
      // The record first (durably): a crash after the files are gone must still know them as delivered.
      const now = Date.now();
      await appendDurably(join(this.mailboxDir(mailbox), 'deleted'), present.map((uidl) => `${uidl} ${now}\n`).join(''));
      const record = this.deletedDeliveries.get(mailbox.toLowerCase()) ?? new Map<string, number>();
      for (const uidl of present) record.set(uidl, now);
      this.deletedDeliveries.set(mailbox.toLowerCase(), record);
      let deleted = 0;
      for (const uidl of present) {
        const message = index.get(uidl);
        if (!message) continue;
        await unlink(this.messagePath(mailbox, message)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
        index.delete(uidl);
        deleted++;
      }
      if (deleted > 0) await syncDirectory(join(this.mailboxDir(mailbox), 'cur'));
      return deleted;
    });
  }

  async acquireLease(mailbox: string, ttlMs: number): Promise<string | undefined> {
    const id = this.leases.acquire(mailbox.toLowerCase(), ttlMs);
    if (id) await this.saveLeases();
    return id;
  }

  async renewLease(mailbox: string, leaseId: string, ttlMs: number): Promise<boolean> {
    const renewed = this.leases.renew(mailbox.toLowerCase(), leaseId, ttlMs);
    if (renewed) await this.saveLeases();
    return renewed;
  }

  async releaseLease(mailbox: string, leaseId: string): Promise<void> {
    this.leases.release(mailbox.toLowerCase(), leaseId);
    await this.saveLeases();
  }

  /**
   * Saves the lease table durably. Changes made while a save runs share the next one, which writes the
   * table as it is when it starts: at most one save runs, at most one waits.
   */
  private saveLeases(): Promise<void> {
    if (this.nextLeaseSave) return this.nextLeaseSave;
    const save = this.leaseSave.then(() => {
      this.nextLeaseSave = undefined;
      return replaceFileDurably(join(this.dataDir, LEASES_FILE), Buffer.from(JSON.stringify(this.leases.entries())));
    });
    this.nextLeaseSave = save;
    this.leaseSave = save.catch(() => undefined);
    return save;
  }

  async hasLease(mailbox: string, leaseId: string): Promise<boolean> {
    return this.leases.holds(mailbox.toLowerCase(), leaseId);
  }

  // --- Failed-login records (in memory; every change is synchronous, hence atomic) -----------------------

  async getAuthFailures(keys: string[], since: number): Promise<Map<string, AuthFailureRecord>> {
    const found = new Map<string, AuthFailureRecord>();
    for (const key of keys) {
      const record = this.authFailures.get(key);
      if (record) found.set(key, { failures: record.failures.filter((f) => f.at > since).length, lockedUntilMs: record.lockedUntilMs });
    }
    return found;
  }

  async addAuthFailure(key: string, now: number, windowMs: number, tag?: string): Promise<AuthFailureRecord> {
    if (this.authFailures.size >= 10_000) await this.pruneAuthFailures(now);
    let record = this.authFailures.get(key);
    if (!record) this.authFailures.set(key, (record = { failures: [], lockedUntilMs: 0 }));
    record.failures = record.failures.filter((f) => f.expiresAtMs > now);
    const counted = record.failures.filter((f) => f.at > now - windowMs);
    if (tag === undefined || !counted.some((f) => f.tag === tag)) {
      record.failures.push({ at: now, expiresAtMs: now + windowMs, ...(tag === undefined ? {} : { tag }) });
      counted.push(record.failures.at(-1)!);
    }
    return { failures: counted.length, lockedUntilMs: record.lockedUntilMs };
  }

  async listAuthRecords(since: number, now: number): Promise<Array<AuthFailureRecord & { key: string }>> {
    const found: Array<AuthFailureRecord & { key: string }> = [];
    for (const [key, record] of this.authFailures) {
      const failures = record.failures.filter((f) => f.at > since).length;
      if (failures > 0 || record.lockedUntilMs > now) found.push({ key, failures, lockedUntilMs: record.lockedUntilMs });
    }
    return found;
  }

  async lockAuth(key: string, untilMs: number): Promise<void> {
    let record = this.authFailures.get(key);
    if (!record) this.authFailures.set(key, (record = { failures: [], lockedUntilMs: 0 }));
    record.lockedUntilMs = Math.max(record.lockedUntilMs, untilMs);
  }

  async clearAuthFailures(key: string): Promise<void> {
    this.authFailures.delete(key);
  }

  async pruneAuthFailures(now: number): Promise<number> {
    let removed = 0;
    for (const [key, record] of this.authFailures) {
      const kept = record.failures.filter((f) => f.expiresAtMs > now);
      removed += record.failures.length - kept.length;
      record.failures = kept;
      if (record.lockedUntilMs > 0 && record.lockedUntilMs <= now) {
        record.lockedUntilMs = 0;
        removed++;
      }
      if (kept.length === 0 && record.lockedUntilMs === 0) this.authFailures.delete(key);
    }
    return removed;
  }

  async close(): Promise<void> {
    await this.accountsLock;
    await this.mailboxLocks.idle();
    await this.leaseSave;
  }
}
