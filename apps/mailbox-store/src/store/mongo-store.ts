// The MongoDB backend, for several mailbox-store replicas over one shared database. Every change is one
// single-document atomic write (no multi-document transactions), so it also runs on FerretDB v1.
// Collections in the configured database:
//   domains       { _id: domain, removing?, postmaster?, dkimKeys? } domains; `removing` fences addAccount
//   accounts      { _id: address, domain, passwordHash }           index { domain, _id }
//   messages      { mailbox, uidl, size, receivedAt, queueId, recipient, body? | bodyFileId? }
//                 unique { mailbox, uidl } (uidl = hash of queue id + recipient: idempotent delivery),
//                 { mailbox, receivedAt, uidl } for listing
//   bodies.files / bodies.chunks   GridFS bucket for bodies above the inline limit
//   pendingBodies { _id: GridFS file id, mailbox, uidl, since }   intent records: a body being written or
//                 deleted; the sweep removes the file when no message refers to it (a crash in between)
//   leases        { _id: mailbox, leaseId, expiresAt }             one maildrop lease per mailbox
//   authFailures  { key, at, expiresAt, tag }                      one document per failed login
//                 index { key, at }, { expiresAt }
//   authLocks     { key, until }                                   one document per lock; { key, until }
//                 Inserts only (FerretDB v1's updates are not atomic under concurrency); both are
//                 cleaned by the periodic sweep (FerretDB v1 has no TTL indexes)
// A message is visible only once its metadata document exists, and that is inserted after the body is
// completely stored. Lease expiry uses this process's clock: replicas need synchronised clocks (NTP).
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import {
  Binary,
  GridFSBucket,
  MongoClient,
  MongoRuntimeError,
  MongoServerError,
  ObjectId,
  type Collection,
  type Db,
  type GridFSBucketWriteStream,
} from 'mongodb';
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

export interface MongoStoreOptions {
  /** Connection string; TLS and authentication options are part of it. */
  uri: string;
  database: string;
  maxMessageBytes: number;
  /** How long the driver looks for a server before an operation fails. */
  serverSelectionTimeoutMS?: number;
  /** Bodies up to this size live in the message document; larger ones go to GridFS. */
  inlineBodyBytes?: number;
  /** A pending body older than this is considered abandoned by a crashed writer. */
  orphanGraceMs?: number;
  /** How long a deleted delivery is still recognised as delivered (default: 7 days, beyond the queue lifetime). */
  deliveryRecordMs?: number;
  /** How often the orphan sweep runs (0: only at start-up). */
  sweepIntervalMs?: number;
}

interface DomainDocument {
  _id: string;
  removing?: boolean;
  /** The account that receives postmaster@<domain>. */
  postmaster?: string;
  /** Its DKIM signing keys by selector (dots written as "_", which a selector never has: field paths split at dots). */
  dkimKeys?: Record<string, Omit<DkimKey, 'domain'>>;
}

interface AccountDocument {
  _id: string;
  domain: string;
  passwordHash: string;
}

interface MessageDocument {
  _id?: ObjectId;
  mailbox: string;
  uidl: string;
  size: number;
  receivedAt: Date;
  queueId: string;
  recipient: string;
  body?: Binary;
  bodyFileId?: ObjectId;
  /**
   * Deleted by its user: the document stays, without its body, as the record that this delivery was made
   * (a repeat must not bring it back) until the delivery-record time has passed.
   */
  deletedAt?: Date;
}

/** Messages still in the maildrop (not just a record of a delivery since deleted). */
const LIVE = { deletedAt: { $exists: false } } as const;

interface PendingBodyDocument {
  _id: ObjectId;
  mailbox: string;
  uidl: string;
  since: Date;
}

interface AuthFailureDocument {
  _id?: ObjectId;
  key: string;
  at: Date;
  /** When it stops counting: it can be removed. */
  expiresAt: Date;
  /** The failed password's tag (failedPasswordTag): the same one is not counted twice. */
  tag?: string;
}

interface AuthLockDocument {
  _id?: ObjectId;
  key: string;
  until: Date;
}

interface LeaseDocument {
  _id: string;
  leaseId: string;
  expiresAt: Date;
}

const DUPLICATE_KEY = 11000;
const READ_SLICE = 64 * 1024;

const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === DUPLICATE_KEY;
const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1);

/** The URI without its password, for error messages. */
export function redactUri(uri: string): string {
  return uri.replace(/^(mongodb(?:\+srv)?:\/\/)([^@/]*)@/, (_, scheme: string, userinfo: string) => `${scheme}${userinfo.split(':')[0]}:***@`);
}

export class MongoStore implements MailStore {
  private readonly domains: Collection<DomainDocument>;
  private readonly accounts: Collection<AccountDocument>;
  private readonly messages: Collection<MessageDocument>;
  private readonly pendingBodies: Collection<PendingBodyDocument>;
  private readonly leases: Collection<LeaseDocument>;
  private readonly authFailures: Collection<AuthFailureDocument>;
  private readonly authLocks: Collection<AuthLockDocument>;
  private readonly bodies: GridFSBucket;
  private readonly inlineBodyBytes: number;
  private readonly orphanGraceMs: number;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;

  private constructor(
    private readonly client: MongoClient,
    readonly db: Db,
    private readonly options: MongoStoreOptions,
  ) {
    this.domains = db.collection('domains');
    this.accounts = db.collection('accounts');
    this.messages = db.collection('messages');
    this.pendingBodies = db.collection('pendingBodies');
    this.leases = db.collection('leases');
    this.authFailures = db.collection('authFailures');
    this.authLocks = db.collection('authLocks');
    this.bodies = new GridFSBucket(db, { bucketName: 'bodies' });
    // 255 KiB keeps an inline body the size of one GridFS chunk, far below the 16 MiB document limit.
    this.inlineBodyBytes = options.inlineBodyBytes ?? 255 * 1024;
    this.orphanGraceMs = options.orphanGraceMs ?? 60 * 60 * 1000;
  }

  /** Connects, checks that the server answers, creates the indexes and sweeps orphan bodies. */
  static async open(options: MongoStoreOptions): Promise<MongoStore> {
    const client = new MongoClient(options.uri, { serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 10_000 });
    try {
      await client.connect();
      await client.db(options.database).command({ ping: 1 });
    } catch (err) {
      await client.close().catch(() => undefined);
      const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
      throw new Error(`cannot reach MongoDB at ${redactUri(options.uri)} (database ${options.database}): ${reason}`);
    }
    const store = new MongoStore(client, client.db(options.database), options);
    try {
      await store.createIndexes();
      await store.sweepOrphanBodies();
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
    if (options.sweepIntervalMs) {
      store.sweepTimer = setInterval(() => {
        void store.sweepOrphanBodies().catch(() => undefined);
        void store.pruneAuthFailures(Date.now()).catch(() => undefined);
        void store.pruneDeliveryRecords(Date.now()).catch(() => undefined);
      }, options.sweepIntervalMs);
      store.sweepTimer.unref();
    }
    return store;
  }

  private async createIndexes(): Promise<void> {
    await this.accounts.createIndex({ domain: 1, _id: 1 }, { name: 'domain_address' });
    await this.messages.createIndex({ mailbox: 1, uidl: 1 }, { name: 'mailbox_uidl_unique', unique: true });
    await this.messages.createIndex({ mailbox: 1, receivedAt: 1, uidl: 1 }, { name: 'mailbox_arrival' });
    await this.messages.createIndex({ deletedAt: 1 }, { name: 'deletedAt' });
    await this.pendingBodies.createIndex({ since: 1 }, { name: 'since' });
    await this.authFailures.createIndex({ key: 1, at: 1 }, { name: 'key_at' });
    await this.authFailures.createIndex({ expiresAt: 1 }, { name: 'expiresAt' });
    await this.authLocks.createIndex({ key: 1, until: 1 }, { name: 'key_until' });
    await this.authLocks.createIndex({ until: 1 }, { name: 'until' });
    // The GridFS driver creates its own indexes on first upload; creating them up front keeps the
    // first deliveries of several replicas from racing on it.
    await this.db.collection('bodies.files').createIndex({ filename: 1, uploadDate: 1 });
    await this.db.collection('bodies.chunks').createIndex({ files_id: 1, n: 1 }, { unique: true });
  }

  // --- Domains and accounts -----------------------------------------------------------------------------

  async addDomain(domain: string): Promise<void> {
    const name = domain.toLowerCase();
    try {
      await this.domains.insertOne({ _id: name });
    } catch (err) {
      if (isDuplicateKey(err)) throw new StoreError('exists', `domain ${name} exists`);
      throw err;
    }
  }

  /**
   * Fences the domain (`removing`), then checks for accounts, then deletes it. addAccount inserts first and
   * checks the domain after, so one of the two always sees the other: no account outlives its domain.
   */
  async removeDomain(domain: string): Promise<void> {
    const name = domain.toLowerCase();
    const fenced = await this.domains.updateOne({ _id: name }, { $set: { removing: true } });
    if (fenced.matchedCount === 0) throw new StoreError('not-found', `no domain ${name}`);
    if (await this.accounts.findOne({ domain: name }, { projection: { _id: 1 } })) {
      await this.domains.updateOne({ _id: name }, { $unset: { removing: '' } });
      throw new StoreError('invalid', `domain ${name} still has accounts; remove them first`);
    }
    await this.domains.deleteOne({ _id: name });
  }

  async setDomainPostmaster(domain: string, address: string, ifUnnamed = false): Promise<boolean> {
    const name = domain.toLowerCase();
    const filter = ifUnnamed ? { _id: name, postmaster: { $exists: false } } : { _id: name };
    const result = await this.domains.updateOne(filter, { $set: { postmaster: address.toLowerCase() } });
    if (result.matchedCount > 0) return true;
    if (!(await this.isLocalDomain(name))) throw new StoreError('not-found', `no domain ${name}`);
    return false;
  }

  async domainPostmasters(): Promise<Map<string, string>> {
    const docs = await this.domains.find({ postmaster: { $exists: true } }, { projection: { _id: 1, postmaster: 1 } }).toArray();
    return new Map(docs.map((d) => [d._id, d.postmaster!]));
  }

  /** One conditional update: the selector is added only where the domain has none like it. */
  async addDkimKey(key: DkimKey): Promise<void> {
    const name = key.domain.toLowerCase();
    const { domain: _domain, ...stored } = key;
    const field = dkimKeyField(key.selector);
    const result = await this.domains.updateOne({ _id: name, [field]: { $exists: false } }, { $set: { [field]: stored } });
    if (result.matchedCount > 0) return;
    if (!(await this.isLocalDomain(name))) throw new StoreError('not-found', `no domain ${name}`);
    throw new StoreError('exists', `domain ${name} has a key with selector ${key.selector}`);
  }

  async removeDkimKey(domain: string, selector: string): Promise<void> {
    const name = domain.toLowerCase();
    const field = dkimKeyField(selector);
    const result = await this.domains.updateOne({ _id: name, [field]: { $exists: true } }, { $unset: { [field]: '' } });
    if (result.matchedCount === 0) throw new StoreError('not-found', `domain ${name} has no key with selector ${selector}`);
  }

  async listDkimKeys(domain?: string): Promise<DkimKey[]> {
    const filter = domain === undefined ? { dkimKeys: { $exists: true } } : { _id: domain.toLowerCase() };
    const docs = await this.domains.find(filter, { projection: { _id: 1, dkimKeys: 1 } }).toArray();
    return docs.flatMap((d) => Object.values(d.dkimKeys ?? {}).map((k) => ({ ...k, domain: d._id }))).sort((a, b) => a.createdAtMs - b.createdAtMs);
  }

  async listDomains(): Promise<string[]> {
    const docs = await this.domains.find({}, { projection: { _id: 1 } }).sort({ _id: 1 }).toArray();
    return docs.map((d) => d._id);
  }

  async isLocalDomain(domain: string): Promise<boolean> {
    return (await this.domains.findOne({ _id: domain.toLowerCase() }, { projection: { _id: 1 } })) !== null;
  }

  async addAccount(account: Account): Promise<void> {
    const address = account.address.toLowerCase();
    const domain = domainOf(address);
    const notLocal = () => new StoreError('invalid', `domain ${domain} is not local; add it first`);
    const usable = async () => {
      const doc = await this.domains.findOne({ _id: domain });
      return doc !== null && !doc.removing;
    };
    if (!(await usable())) throw notLocal();
    try {
      await this.accounts.insertOne({ _id: address, domain, passwordHash: account.passwordHash });
    } catch (err) {
      if (isDuplicateKey(err)) throw new StoreError('exists', `account ${address} exists`);
      throw err;
    }
    // A concurrent removeDomain may have fenced the domain before our insert: back out.
    if (!(await usable())) {
      await this.accounts.deleteOne({ _id: address, passwordHash: account.passwordHash });
      throw notLocal();
    }
  }

  async removeAccount(address: string): Promise<void> {
    const name = address.toLowerCase();
    const { deletedCount } = await this.accounts.deleteOne({ _id: name });
    if (deletedCount === 0) throw new StoreError('not-found', `no account ${name}`);
  }

  async setPasswordHash(address: string, passwordHash: string): Promise<void> {
    const name = address.toLowerCase();
    const { matchedCount } = await this.accounts.updateOne({ _id: name }, { $set: { passwordHash } });
    if (matchedCount === 0) throw new StoreError('not-found', `no account ${name}`);
  }

  async getAccount(address: string): Promise<Account | undefined> {
    const doc = await this.accounts.findOne({ _id: address.toLowerCase() });
    return doc ? { address: doc._id, passwordHash: doc.passwordHash } : undefined;
  }

  async listAccounts(domain?: string): Promise<string[]> {
    const filter = domain ? { domain: domain.toLowerCase() } : {};
    const docs = await this.accounts.find(filter, { projection: { _id: 1 } }).sort({ _id: 1 }).toArray();
    return docs.map((d) => d._id);
  }

  // --- Messages -----------------------------------------------------------------------------------------

  async deliver(mailbox: string, key: DeliveryKey, body: AsyncIterable<Uint8Array>): Promise<DeliveryOutcome> {
    const box = mailbox.toLowerCase();
    const uidl = deliveryUidl(key);
    if (await this.messages.findOne({ mailbox: box, uidl }, { projection: { _id: 1 } })) {
      for await (const _ of body); // drain what the caller is sending
      return { uidl, duplicate: true };
    }
    const stored = await this.storeBody(box, uidl, body);
    const message: MessageDocument = {
      mailbox: box,
      uidl,
      size: stored.size,
      receivedAt: new Date(),
      queueId: key.queueId,
      recipient: key.recipient.toLowerCase(),
      ...(stored.fileId ? { bodyFileId: stored.fileId } : { body: new Binary(stored.inline!) }),
    };
    try {
      await this.messages.insertOne(message);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err; // the pending record stays: the sweep removes the body
      // Another replica stored the same delivery first: ours is not needed.
      if (stored.fileId) await this.discardBody(stored.fileId);
      return { uidl, duplicate: true };
    }
    if (stored.fileId) await this.pendingBodies.deleteOne({ _id: stored.fileId });
    return { uidl, duplicate: false };
  }

  /** Reads the body: small ones into memory, larger ones streamed into GridFS under a pending record. */
  private async storeBody(
    mailbox: string,
    uidl: string,
    body: AsyncIterable<Uint8Array>,
  ): Promise<{ size: number; inline?: Buffer; fileId?: ObjectId }> {
    const head: Buffer[] = [];
    let size = 0;
    let upload: GridFSBucketWriteStream | undefined;
    const tooLarge = () => new StoreError('too-large', `message larger than ${this.options.maxMessageBytes} bytes`);
    try {
      for await (const chunk of body) {
        size += chunk.byteLength;
        if (size > this.options.maxMessageBytes) throw tooLarge();
        if (upload) {
          if (!upload.write(chunk)) await once(upload, 'drain');
          continue;
        }
        head.push(Buffer.from(chunk));
        if (size > this.inlineBodyBytes) {
          const fileId = new ObjectId();
          await this.pendingBodies.insertOne({ _id: fileId, mailbox, uidl, since: new Date() });
          upload = this.bodies.openUploadStreamWithId(fileId, uidl, { metadata: { mailbox, uidl } });
          for (const part of head.splice(0)) if (!upload.write(part)) await once(upload, 'drain');
        }
      }
      if (!upload) return { size, inline: Buffer.concat(head) };
      upload.end();
      await finished(upload);
      return { size, fileId: upload.id as ObjectId };
    } catch (err) {
      // The pending record stays behind: the sweep deletes whatever chunks were written.
      if (upload && !upload.writableFinished) await upload.abort().catch(() => undefined);
      throw err;
    }
  }

  /** Deletes a GridFS body and then its pending record; a missing file counts as deleted. */
  private async discardBody(fileId: ObjectId): Promise<void> {
    try {
      await this.bodies.delete(fileId);
    } catch (err) {
      if (!(err instanceof MongoRuntimeError && /not found/i.test(err.message))) throw err;
    }
    await this.pendingBodies.deleteOne({ _id: fileId });
  }

  async listMessages(mailbox: string): Promise<StoredMessage[]> {
    const docs = await this.messages
      .find({ mailbox: mailbox.toLowerCase(), ...LIVE }, { projection: { _id: 0, uidl: 1, size: 1, receivedAt: 1 } })
      .sort({ receivedAt: 1, uidl: 1 })
      .toArray();
    return docs.map((d) => ({ uidl: d.uidl, size: d.size, receivedAtMs: d.receivedAt.getTime() }));
  }

  async *readMessage(mailbox: string, uidl: string): AsyncIterable<Uint8Array> {
    const doc = await this.messages.findOne({ mailbox: mailbox.toLowerCase(), uidl, ...LIVE });
    if (!doc) throw new StoreError('not-found', `no message ${uidl}`);
    if (doc.bodyFileId) {
      yield* this.bodies.openDownloadStream(doc.bodyFileId);
      return;
    }
    const bytes = doc.body ? Buffer.from(doc.body.buffer) : Buffer.alloc(0);
    for (let offset = 0; offset < bytes.length; offset += READ_SLICE) yield bytes.subarray(offset, offset + READ_SLICE);
  }

  async deleteMessages(mailbox: string, uidls: string[]): Promise<number> {
    const box = mailbox.toLowerCase();
    // A few round trips for the whole UPDATE, not two or three per message: a POP3 QUIT that deletes
    // hundreds must finish well within the caller's deadline.
    const docs = await this.messages.find({ mailbox: box, uidl: { $in: uidls }, ...LIVE }, { projection: { _id: 1, uidl: 1, bodyFileId: 1 } }).toArray();
    if (docs.length === 0) return 0;
    const withBodies = docs.filter((doc) => doc.bodyFileId);
    // Record the intent first, so that a crash after the metadata is gone still frees the bodies.
    if (withBodies.length > 0) {
      const since = new Date();
      await this.pendingBodies.bulkWrite(
        withBodies.map((doc) => ({ updateOne: { filter: { _id: doc.bodyFileId! }, update: { $set: { mailbox: box, uidl: doc.uidl, since } }, upsert: true } })),
        { ordered: false },
      );
    }
    // The documents stay as the record of the deliveries; only their bodies go.
    const { modifiedCount } = await this.messages.updateMany(
      { _id: { $in: docs.map((doc) => doc._id) }, ...LIVE },
      { $set: { deletedAt: new Date() }, $unset: { body: '', bodyFileId: '' } },
    );
    for (const doc of withBodies) await this.discardBody(doc.bodyFileId!);
    return modifiedCount;
  }

  /**
   * Removes GridFS bodies that no message refers to: a crash between storing a body and inserting its
   * metadata, or between deleting a message and its body. Only pending records older than `graceMs` are
   * looked at, so writes in progress on other replicas are left alone. Returns the number of bodies freed.
   */
  sweepOrphanBodies(graceMs = this.orphanGraceMs): Promise<number> {
    this.sweeping ??= this.sweep(graceMs).finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweep(graceMs: number): Promise<number> {
    const cutoff = new Date(Date.now() - graceMs);
    let freed = 0;
    for await (const pending of this.pendingBodies.find({ since: { $lte: cutoff } }).sort({ since: 1 })) {
      const owner = await this.messages.findOne({ mailbox: pending.mailbox, uidl: pending.uidl }, { projection: { bodyFileId: 1 } });
      if (owner?.bodyFileId?.equals(pending._id)) {
        await this.pendingBodies.deleteOne({ _id: pending._id }); // stored after all: keep the body
        continue;
      }
      await this.discardBody(pending._id);
      freed++;
    }
    return freed;
  }

  /** Forgets deleted deliveries older than the delivery-record time; returns how many. */
  async pruneDeliveryRecords(now: number): Promise<number> {
    const { deletedCount } = await this.messages.deleteMany({ deletedAt: { $lt: new Date(now - (this.options.deliveryRecordMs ?? DEFAULT_DELIVERY_RECORD_MS)) } });
    return deletedCount;
  }

  // --- Maildrop leases ------------------------------------------------------------------------------------

  /**
   * One conditional upsert: it matches only an expired lease; when a live one exists the upsert's insert
   * collides on `_id` and fails, so exactly one of several replicas gets the maildrop.
   */
  async acquireLease(mailbox: string, ttlMs: number): Promise<string | undefined> {
    const leaseId = randomUUID();
    const now = Date.now();
    try {
      await this.leases.updateOne(
        { _id: mailbox.toLowerCase(), expiresAt: { $lte: new Date(now) } },
        { $set: { leaseId, expiresAt: new Date(now + ttlMs) } },
        { upsert: true },
      );
      return leaseId;
    } catch (err) {
      if (isDuplicateKey(err)) return undefined;
      throw err;
    }
  }

  /** Extends the holder's lease; an expired one that nobody else took is taken back (as the embedded store). */
  async renewLease(mailbox: string, leaseId: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    try {
      await this.leases.updateOne(
        { _id: mailbox.toLowerCase(), $or: [{ leaseId }, { expiresAt: { $lte: new Date(now) } }] },
        { $set: { leaseId, expiresAt: new Date(now + ttlMs) } },
        { upsert: true },
      );
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  async releaseLease(mailbox: string, leaseId: string): Promise<void> {
    await this.leases.deleteOne({ _id: mailbox.toLowerCase(), leaseId });
  }

  async hasLease(mailbox: string, leaseId: string): Promise<boolean> {
    const doc = await this.leases.findOne({ _id: mailbox.toLowerCase(), leaseId, expiresAt: { $gt: new Date() } });
    return doc !== null;
  }

  // --- Failed-login records ----------------------------------------------------------------------------
  // A failure or a lock is an insert, never a read-modify-write of a shared document: inserts are atomic
  // everywhere (FerretDB v1's `$inc` and `$max` are not under concurrency), and a count after one's own
  // insert sees every failure inserted before it, on any replica. The lock is the latest `until`.

  async getAuthFailures(keys: string[], since: number): Promise<Map<string, AuthFailureRecord>> {
    const found = new Map<string, AuthFailureRecord>();
    for (const key of keys) {
      const failures = await this.authFailures.countDocuments({ key, at: { $gt: new Date(since) } });
      const lock = await this.authLocks.findOne({ key }, { sort: { until: -1 }, projection: { until: 1 } });
      const lockedUntilMs = lock?.until.getTime() ?? 0;
      if (failures > 0 || lockedUntilMs > 0) found.set(key, { failures, lockedUntilMs });
    }
    return found;
  }

  async addAuthFailure(key: string, now: number, windowMs: number, tag?: string): Promise<AuthFailureRecord> {
    const since = new Date(now - windowMs);
    if (tag === undefined || !(await this.authFailures.findOne({ key, tag, at: { $gt: since } }, { projection: { _id: 1 } }))) {
      await this.authFailures.insertOne({ key, at: new Date(now), expiresAt: new Date(now + windowMs), ...(tag === undefined ? {} : { tag }) });
    }
    return (await this.getAuthFailures([key], now - windowMs)).get(key)!;
  }

  async listAuthRecords(since: number, now: number): Promise<Array<AuthFailureRecord & { key: string }>> {
    const keys = new Set<string>();
    for await (const doc of this.authFailures.find({ at: { $gt: new Date(since) } }, { projection: { key: 1 } })) keys.add(doc.key);
    for await (const doc of this.authLocks.find({ until: { $gt: new Date(now) } }, { projection: { key: 1 } })) keys.add(doc.key);
    const records = await this.getAuthFailures([...keys], since);
    return [...records].map(([key, record]) => ({ key, ...record })).filter((r) => r.failures > 0 || r.lockedUntilMs > now);
  }

  async lockAuth(key: string, untilMs: number): Promise<void> {
    await this.authLocks.insertOne({ key, until: new Date(untilMs) });
  }

  async clearAuthFailures(key: string): Promise<void> {
    await this.authFailures.deleteMany({ key });
    await this.authLocks.deleteMany({ key });
  }

  /** Run with the orphan sweep (MONGODB_SWEEP_INTERVAL_SECONDS): FerretDB v1 has no TTL indexes. */
  async pruneAuthFailures(now: number): Promise<number> {
    const failures = await this.authFailures.deleteMany({ expiresAt: { $lte: new Date(now) } });
    const locks = await this.authLocks.deleteMany({ until: { $lte: new Date(now) } });
    return failures.deletedCount + locks.deletedCount;
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.sweeping?.catch(() => undefined);
    await this.client.close();
  }
}

/** The field of a domain document that holds the key of `selector`. */
const dkimKeyField = (selector: string) => `dkimKeys.${selector.replace(/\./g, '_')}`;
