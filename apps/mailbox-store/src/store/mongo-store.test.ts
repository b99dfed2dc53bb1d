// MongoStore: the storage conformance suite against a MongoDB-compatible server from @mail/testing
// (MONGODB_URI, a container, or a local FerretDB), plus what only this backend has: indexes, the sweep of
// bodies a crash left without metadata, and the start-up error when the server cannot be reached.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { GridFSBucket, MongoClient, ObjectId } from 'mongodb';
import { freePort, startMongo, type ProvidedServer } from '@mail/testing/providers';
import { MongoStore, redactUri } from './mongo-store.js';
import { bodyOf, defineStoreConformance, rejectsWith } from './store-conformance.test-support.js';

let server: ProvidedServer;
let admin: MongoClient;
before(async () => {
  server = await startMongo();
  admin = new MongoClient(server.url, { serverSelectionTimeoutMS: 5_000 });
});
after(async () => {
  await admin?.close();
  await server?.stop();
});

const freshDatabase = () => `mailstore_test_${randomBytes(6).toString('hex')}`;
const openStore = (database: string, maxMessageBytes = 2 * 1024 * 1024) =>
  MongoStore.open({ uri: server.url, database, maxMessageBytes, serverSelectionTimeoutMS: 5_000 });

defineStoreConformance({
  name: 'mongo',
  sharedReplicas: true,
  async create({ maxMessageBytes }) {
    const database = freshDatabase();
    return {
      open: () => openStore(database, maxMessageBytes),
      destroy: async () => void (await admin.db(database).dropDatabase()),
    };
  },
});

async function withStore(work: (store: MongoStore, database: string) => Promise<void>): Promise<void> {
  const database = freshDatabase();
  const store = await openStore(database);
  try {
    await work(store, database);
  } finally {
    await store.close();
    await admin.db(database).dropDatabase();
  }
}

const ALICE = 'alice@example.com';

test('every query path has an index, and (mailbox, uidl) is unique', async () => {
  await withStore(async (_, database) => {
    const db = admin.db(database);
    const keys = async (name: string) => (await db.collection(name).indexes())
        .map((i) => ({ key: i.key, unique: !!i.unique }))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    assert.deepEqual(await keys('messages'), [
      { key: { _id: 1 }, unique: false },
      { key: { deletedAt: 1 }, unique: false },
      { key: { mailbox: 1, receivedAt: 1, uidl: 1 }, unique: false },
      { key: { mailbox: 1, uidl: 1 }, unique: true },
    ]);
    assert.ok((await keys('accounts')).some((i) => i.key.domain === 1));
    assert.ok((await keys('pendingBodies')).some((i) => i.key.since === 1));
    assert.ok((await keys('bodies.chunks')).some((i) => i.key.files_id === 1 && i.unique));
    assert.ok((await keys('authFailures')).some((i) => i.key.key === 1 && i.key.at === 1));
    assert.ok((await keys('authFailures')).some((i) => i.key.expiresAt === 1));
    assert.ok((await keys('authLocks')).some((i) => i.key.key === 1 && i.key.until === 1));
    assert.ok((await keys('authLocks')).some((i) => i.key.until === 1 && !('key' in i.key)));
  });
});

test('a deleted delivery is remembered, without its body, until the record time has passed', async () => {
  await withStore(async (store, database) => {
    const key = { queueId: 'GONE', recipient: ALICE };
    const { uidl } = await store.deliver(ALICE, key, bodyOf(randomBytes(1_000_000)));
    await store.deleteMessages(ALICE, [uidl]);
    const record = await admin.db(database).collection('messages').findOne({ uidl });
    assert.ok(record?.deletedAt, 'the record stays');
    assert.equal(record.body, undefined);
    assert.equal(record.bodyFileId, undefined, 'the body does not');
    assert.equal(await store.pruneDeliveryRecords(Date.now()), 0, 'kept within the record time');
    assert.equal(await store.pruneDeliveryRecords(Date.now() + 8 * 24 * 3600 * 1000), 1, 'forgotten after it');
    assert.equal((await store.deliver(ALICE, key, bodyOf('again\r\n'))).duplicate, false);
  });
});

test('small bodies live in the message document, large ones in GridFS', async () => {
  await withStore(async (store, database) => {
    await store.deliver(ALICE, { queueId: 'SMALL', recipient: ALICE }, bodyOf('Subject: s\r\n\r\nsmall\r\n'));
    await store.deliver(ALICE, { queueId: 'LARGE', recipient: ALICE }, bodyOf(randomBytes(1_000_000)));
    const db = admin.db(database);
    const docs = await db.collection('messages').find({}).sort({ queueId: 1 }).toArray();
    assert.deepEqual(docs.map((d) => [d.queueId, 'body' in d, 'bodyFileId' in d]), [['LARGE', false, true], ['SMALL', true, false]]);
    assert.equal(await db.collection('bodies.files').countDocuments(), 1);
    assert.equal(await db.collection('pendingBodies').countDocuments(), 0);
  });
});

test('a body stored without its metadata (a crash in between) is swept, a stored one is kept', async () => {
  await withStore(async (store, database) => {
    const db = admin.db(database);
    const kept = await store.deliver(ALICE, { queueId: 'KEPT', recipient: ALICE }, bodyOf(randomBytes(600_000)));
    // What a kill -9 after the upload and before the metadata insert leaves behind.
    const orphan = new ObjectId();
    await db.collection('pendingBodies').insertOne({ _id: orphan, mailbox: ALICE, uidl: 'x'.repeat(40), since: new Date() });
    const upload = new GridFSBucket(db, { bucketName: 'bodies' }).openUploadStreamWithId(orphan, 'orphan');
    upload.end(randomBytes(600_000));
    await new Promise((resolve, reject) => upload.once('finish', resolve).once('error', reject));
    // ...and a crash after the metadata insert, before the pending record was removed.
    const [keptDoc] = await db.collection('messages').find({ uidl: kept.uidl }).toArray();
    await db.collection('pendingBodies').insertOne({ _id: keptDoc!.bodyFileId, mailbox: ALICE, uidl: kept.uidl, since: new Date() });

    assert.equal(await store.sweepOrphanBodies(60_000), 0, 'recent pending bodies are left to their writers');
    assert.equal(await store.sweepOrphanBodies(0), 1);
    assert.equal(await db.collection('bodies.files').countDocuments({ _id: orphan }), 0);
    assert.equal(await db.collection('bodies.chunks').countDocuments({ files_id: orphan }), 0);
    assert.equal(await db.collection('pendingBodies').countDocuments(), 0);
    assert.equal((await store.listMessages(ALICE)).length, 1);
    assert.equal(await db.collection('bodies.chunks').countDocuments({ files_id: keptDoc!.bodyFileId }), 3);
  });
});

test('an interrupted large upload leaves only chunks that the sweep removes', async () => {
  await withStore(async (store, database) => {
    async function* broken(): AsyncIterable<Uint8Array> {
      yield randomBytes(900_000);
      throw new Error('client went away');
    }
    await assert.rejects(store.deliver(ALICE, { queueId: 'Q1', recipient: ALICE }, broken()));
    await rejectsWith(store.deliver(ALICE, { queueId: 'Q2', recipient: ALICE }, bodyOf(randomBytes(3 * 1024 * 1024))), 'too-large');
    await store.sweepOrphanBodies(0);
    const db = admin.db(database);
    assert.equal(await db.collection('bodies.chunks').countDocuments(), 0);
    assert.equal(await db.collection('bodies.files').countDocuments(), 0);
    assert.equal(await db.collection('pendingBodies').countDocuments(), 0);
  });
});

test('a store that opens sweeps what a crashed replica left', async () => {
  const database = freshDatabase();
  try {
    const db = admin.db(database);
    const orphan = ObjectId.createFromTime(Math.floor(Date.now() / 1000) - 7200);
    await db.collection('pendingBodies').insertOne({ _id: orphan, mailbox: ALICE, uidl: 'y'.repeat(40), since: new Date(Date.now() - 7_200_000) });
    await db.collection('bodies.chunks').insertOne({ files_id: orphan, n: 0, data: Buffer.from('half') });
    const store = await openStore(database);
    await store.close();
    assert.equal(await db.collection('bodies.chunks').countDocuments(), 0);
    assert.equal(await db.collection('pendingBodies').countDocuments(), 0);
  } finally {
    await admin.db(database).dropDatabase();
  }
});

test('an unreachable server fails start-up quickly with one clear line, without the password', async () => {
  const port = await freePort();
  const started = Date.now();
  await assert.rejects(
    MongoStore.open({ uri: `mongodb://mail:s3cret@127.0.0.1:${port}/?authSource=admin`, database: 'mail', maxMessageBytes: 1024, serverSelectionTimeoutMS: 300 }),
    (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, new RegExp(`^cannot reach MongoDB at mongodb://mail:\\*\\*\\*@127\\.0\\.0\\.1:${port}/\\?authSource=admin \\(database mail\\): `));
      assert.doesNotMatch(err.message, /s3cret|\n/);
      return true;
    },
  );
  assert.ok(Date.now() - started < 5_000);
});

test('redactUri hides only the password', () => {
  assert.equal(redactUri('mongodb://u:p@h:1/db?tls=true'), 'mongodb://u:***@h:1/db?tls=true');
  assert.equal(redactUri('mongodb+srv://u:p@cluster.example/'), 'mongodb+srv://u:***@cluster.example/');
  assert.equal(redactUri('mongodb://h:1/'), 'mongodb://h:1/');
});
