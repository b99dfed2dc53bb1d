// Inter-service security: gRPC over mutual TLS between the services (and mailctl), each with its own
// certificate naming it, NATS with a user per service and TLS. The whole mail path still works, clients without
// the right credentials are turned away, and each service may call only the methods its job needs.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MailboxStoreClient, QueueAdminClient } from '@mail/contracts';
import { clientCredentials, connectNats, grpc, loadGrpcTlsSettings, loadNatsSettings, unary } from '@mail/platform';
import { connect as natsConnect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { pino } from 'pino';
import {
  ACCEPTED_CONSUMER,
  encodePayload,
  LOCAL_JOB_SUBJECT,
  LOCAL_RESULT_PREFIX,
  REMOTE_JOB_CONSUMER,
  REMOTE_JOB_STREAM,
  remoteJobSubject,
  LEADER_BUCKET,
  NATS_SERVICES,
  natsInboxPrefix,
  QUEUE_BUCKET,
  resultSubject,
  SPOOL_STREAM,
  spoolSubject,
  type NatsService,
} from '@mail/contracts';
import { poplibFetch, smtplibSend } from '../clients.js';
import { SERVICE_NAMES, type MailSystem } from '../mail-system.js';
import { createTestCa } from '../test-ca.js';
import { temporaryDirectory } from '../temporary-directories.js';
import { expectCli, PASSWORD, splitTrace, startSystemWithUsers, waitForMessageCount } from './helpers.js';

describe('gRPC mutual TLS and NATS credentials with TLS', () => {
  let system: MailSystem;
  let grpcEnv: Record<string, string>;
  /** GRPC_TLS_CERT_FILE and _KEY_FILE of each identity: every service and mailctl, and a stranger (CN=localhost) from the same CA. */
  const identities: Record<string, Record<string, string>> = {};
  let caFile: string;
  /** A mailbox-store client presenting `identity`'s certificate. */
  const storeAs = (identity: string) => new MailboxStoreClient(system.grpcAddress, clientCredentials(loadGrpcTlsSettings({ ...grpcEnv, ...identities[identity] })));
  before(async () => {
    const work = await temporaryDirectory('mail-mtls-');
    const ca = await createTestCa(join(work, 'ca'));
    caFile = ca.caFile;
    const service = await ca.issue('service', ['localhost', '127.0.0.1']);
    for (const name of [...SERVICE_NAMES, 'mailctl']) {
      const issued = await ca.issue(name, [name, 'localhost', '127.0.0.1']);
      identities[name] = { GRPC_TLS_CERT_FILE: issued.certFile, GRPC_TLS_KEY_FILE: issued.keyFile };
    }
    identities.stranger = { GRPC_TLS_CERT_FILE: service.certFile, GRPC_TLS_KEY_FILE: service.keyFile };
    grpcEnv = { GRPC_TLS: 'true', GRPC_MTLS: 'true', GRPC_TLS_CA_FILE: ca.caFile };
    system = await startSystemWithUsers(['carol@example.test'], {
      serviceEnv: identities,
      natsViolationsExpected: true,
      natsArgs: ['--tls', '--tlscert', service.certFile, '--tlskey', service.keyFile],
      env: {
        ...grpcEnv,
        NATS_TLS: 'true',
        NATS_TLS_CA_FILE: ca.caFile,
      },
    });
  });
  after(async () => {
    await system?.stop();
  });

  test('the mail path works end to end with every internal hop authenticated and encrypted', async () => {
    assert.match(await expectCli(system, ['domain', 'list']), /example\.test/); // mailctl over mTLS
    const data = Buffer.from('Subject: over mTLS\r\n\r\nhello\r\n');
    const [sent] = await smtplibSend(system.smtpPort, [{ from: 'a@remote.test', to: ['carol@example.test'], data }]);
    assert.equal(sent!.ok, true);
    await waitForMessageCount(system, 'carol@example.test', 1);
    const fetched = await poplibFetch(system.pop3Port, 'carol@example.test', PASSWORD, { delete: true });
    assert.deepEqual(splitTrace(fetched.messages[0]!).original, data);
  });

  test('mailbox-store refuses a plain-text gRPC client and a TLS client without a client certificate', async () => {
    const plain = new MailboxStoreClient(system.grpcAddress, grpc.credentials.createInsecure());
    await assert.rejects(unary(plain.listDomains.bind(plain), {}, 2000), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED);
    plain.close();
    const noCert = new MailboxStoreClient(system.grpcAddress, clientCredentials({ ...loadGrpcTlsSettings({ ...grpcEnv, ...identities.mailctl }), mutual: false }));
    await assert.rejects(unary(noCert.listDomains.bind(noCert), {}, 2000));
    noCert.close();
    const good = storeAs('mailctl');
    assert.deepEqual((await unary(good.listDomains.bind(good), {}, 5000)).domains, ['example.test']);
    good.close();
  });

  test('each service may call only the mailbox-store methods of its job, and only mailctl administers', async () => {
    const denied = (err: grpc.ServiceError) => err.code === grpc.status.PERMISSION_DENIED;
    const calls = {
      addUser: (c: MailboxStoreClient) => unary(c.addUser.bind(c), { address: 'mallory@example.test', password: 'x' }, 5000),
      setPassword: (c: MailboxStoreClient) => unary(c.setPassword.bind(c), { address: 'carol@example.test', password: 'x' }, 5000),
      openMaildrop: (c: MailboxStoreClient) => unary(c.openMaildrop.bind(c), { mailbox: 'carol@example.test', leaseSeconds: 60 }, 5000),
      deliverMany: (c: MailboxStoreClient) => unary(c.deliverMany.bind(c), { items: [] }, 5000),
      lookupRecipient: (c: MailboxStoreClient) => unary(c.lookupRecipient.bind(c), { address: 'carol@example.test' }, 5000),
      authenticate: (c: MailboxStoreClient) => unary(c.authenticate.bind(c), { address: 'carol@example.test', password: 'wrong', clientAddress: '', service: 'test' }, 5000),
      fetchMessage: (c: MailboxStoreClient) =>
        new Promise<void>((resolve, reject) => {
          const stream = c.fetchMessage({ mailbox: 'carol@example.test', leaseId: 'none', uidl: 'none' });
          stream.on('data', () => undefined);
          stream.on('error', reject);
          stream.on('end', resolve);
        }),
    };
    const forbidden: [string, keyof typeof calls][] = [
      ['smtp-ingress', 'addUser'],
      ['smtp-ingress', 'openMaildrop'],
      ['smtp-ingress', 'fetchMessage'],
      ['smtp-ingress', 'deliverMany'],
      ['pop3-access', 'addUser'],
      ['pop3-access', 'setPassword'],
      ['pop3-access', 'deliverMany'],
      ['delivery-agent', 'openMaildrop'],
      ['delivery-agent', 'authenticate'],
      ['queue-manager', 'lookupRecipient'],
      ['stranger', 'lookupRecipient'],
    ];
    for (const [identity, call] of forbidden) {
      const client = storeAs(identity);
      await assert.rejects(calls[call](client), denied, `${identity} ${call}`);
      client.close();
    }
    const allowed: [string, keyof typeof calls][] = [
      ['smtp-ingress', 'lookupRecipient'],
      ['pop3-access', 'authenticate'],
      ['delivery-agent', 'deliverMany'],
    ];
    for (const [identity, call] of allowed) {
      const client = storeAs(identity);
      await calls[call](client);
      client.close();
    }
    const queueAs = (identity: string) => new QueueAdminClient(system.queueAdminAddress, clientCredentials(loadGrpcTlsSettings({ ...grpcEnv, ...identities[identity] })));
    const edge = queueAs('smtp-ingress');
    await assert.rejects(unary(edge.listQueue.bind(edge), {}, 5000), denied);
    edge.close();
    await expectCli(system, ['queue', 'list']); // mailctl's own identity may
  });

  /** A connection as `user` (TLS, its own inbox prefix, as the services connect), and its JetStream handles. */
  const natsAs = async (user: string, password = system.natsAuth.passwords[user as NatsService] ?? 'none') => {
    const nats = await connectNats(system.natsUrl, `test-${user}`, pino({ level: 'silent' }), loadNatsSettings({ NATS_USER: user, NATS_PASSWORD: password, NATS_TLS: 'true', NATS_TLS_CA_FILE: caFile }));
    return { ...nats, kvm: new Kvm(nats.js) };
  };
  type NatsSession = Awaited<ReturnType<typeof natsAs>>;
  const violation = (err: unknown) => err instanceof Error && /permissions? violation/i.test(`${err.message} ${String(err.cause ?? '')}`);
  /** What one service's NATS user must never do: each call is refused by nats-server with a permissions error. */
  const attempts: Record<string, (n: NatsSession) => Promise<unknown>> = {
    'publish a delivery job': (n) => n.js.publish(remoteJobSubject('FORGED'), encodePayload({ queueId: 'FORGED', jobId: 'FORGED.1', sender: '', recipients: ['carol@example.test'] }), { timeout: 3000 }),
    'send a local delivery job': (n) => n.nc.request(LOCAL_JOB_SUBJECT, encodePayload({ jobs: [{ queueId: 'FORGED', jobId: 'FORGED.1', sender: '', recipients: ['carol@example.test'] }] }), { timeout: 3000 }),
    "take the local lane's jobs": (n) => subscribeRefused(n, LOCAL_JOB_SUBJECT),
    'publish a local job result': (n) => n.nc.request(`${LOCAL_RESULT_PREFIX}.FORGED.1`, encodePayload({ results: [] }), { timeout: 3000 }),
    "read local job results": (n) => subscribeRefused(n, `${LOCAL_RESULT_PREFIX}.>`),
    // Nobody publishes into another's inbox, mailbox-store's answers included (they have a subject of their own).
    "publish into queue-manager's inbox": (n) => n.nc.request(`${natsInboxPrefix('queue-manager')}.FORGED`, encodePayload({ results: [] }), { timeout: 3000 }),
    'publish a delivery result': (n) => n.js.publish(resultSubject('FORGED'), encodePayload({ queueId: 'FORGED', jobId: 'FORGED.1', results: [] }), { timeout: 3000 }),
    'write the spool': (n) => n.js.publish(spoolSubject('FORGED'), new Uint8Array(), { timeout: 3000 }),
    'see the queue bucket': (n) => n.kvm.open(QUEUE_BUCKET).then((kv) => kv.status()),
    'read a queue entry': (n) => n.jsm.direct.getMessage(`KV_${QUEUE_BUCKET}`, { last_by_subj: `$KV.${QUEUE_BUCKET}.FORGED` }),
    'write a queue entry': (n) => n.js.publish(`$KV.${QUEUE_BUCKET}.FORGED`, new Uint8Array([1]), { timeout: 3000 }),
    'take the leader lease': (n) => n.js.publish(`$KV.${LEADER_BUCKET}.queue-manager`, new Uint8Array([1]), { timeout: 3000 }),
    'read a spooled message': (n) => n.jsm.direct.getMessage(SPOOL_STREAM, { seq: 1 }),
    'read a spooled message through the stream API': (n) => n.jsm.streams.getMessage(SPOOL_STREAM, { seq: 1 }),
    'delete a spooled message': (n) => n.jsm.streams.deleteMessage(SPOOL_STREAM, 1),
    'purge the spool': (n) => n.jsm.streams.purge(SPOOL_STREAM),
    'shrink the spool': (n) => n.jsm.streams.update(SPOOL_STREAM, { max_msgs: 1 }),
    'delete a stream': (n) => n.jsm.streams.delete(REMOTE_JOB_STREAM),
    'create a stream': (n) => n.jsm.streams.add({ name: 'ROGUE', subjects: ['rogue.>'] }),
    "pull from queue-manager's consumer": (n) => n.js.consumers.get(SPOOL_STREAM, ACCEPTED_CONSUMER).then((c) => c.next({ expires: 1000 })),
    "pull the remote lane's jobs": (n) => n.js.consumers.get(REMOTE_JOB_STREAM, REMOTE_JOB_CONSUMER).then((c) => c.next({ expires: 1000 })),
    'delete a consumer': (n) => n.jsm.consumers.delete(REMOTE_JOB_STREAM, REMOTE_JOB_CONSUMER),
    "acknowledge a spool head for queue-manager": (n) => n.nc.request(`$JS.ACK.${SPOOL_STREAM}.${ACCEPTED_CONSUMER}.1.1.1.1.0`, undefined, { timeout: 3000 }),
    'acknowledge a remote job': (n) => n.nc.request(`$JS.ACK.${REMOTE_JOB_STREAM}.${REMOTE_JOB_CONSUMER}.1.1.1.1.0`, undefined, { timeout: 3000 }),
    'subscribe to mail.>': (n) => subscribeRefused(n, 'mail.>'),
    'subscribe to the queue bucket': (n) => subscribeRefused(n, `$KV.${QUEUE_BUCKET}.>`),
    "read queue-manager's replies": (n) => subscribeRefused(n, `${natsInboxPrefix('queue-manager')}.>`),
    "read delivery-agent's replies": (n) => subscribeRefused(n, `${natsInboxPrefix('delivery-agent')}.>`),
    "read mailbox-store's replies": (n) => subscribeRefused(n, `${natsInboxPrefix('mailbox-store')}.>`),
    'read every reply': (n) => subscribeRefused(n, '_INBOX.>'),
  };
  /** A subscription nats-server refuses: rejects with the error it was closed with. */
  const subscribeRefused = async (n: NatsSession, subject: string) => {
    const closed = await Promise.race([n.nc.subscribe(subject).closed, new Promise<'open'>((r) => setTimeout(() => r('open'), 3000))]);
    if (closed instanceof Error) throw closed;
    throw new Error(`subscription to ${subject} was not refused: ${String(closed)}`);
  };
  const refusals: Record<NatsService, string[]> = {
    'smtp-ingress': Object.keys(attempts).filter((a) => a !== 'write the spool'),
    // delivery-agent spools the TLS-RPT reports it sends (heads only). That gives it nothing it lacked:
    // it already delivers any message to any mailbox (mailbox-store Deliver) and to any remote server.
    // The local lane is mailbox-store's: delivery-agent may not take its jobs.
    'delivery-agent': Object.keys(attempts).filter(
      (a) => !['publish a delivery result', "pull the remote lane's jobs", 'acknowledge a remote job', "read delivery-agent's replies", 'write the spool'].includes(a) && !/read a spooled message/.test(a),
    ),
    'queue-manager': [
      'publish a delivery result',
      "pull the remote lane's jobs",
      "take the local lane's jobs",
      'publish a local job result',
      "publish into queue-manager's inbox",
      'delete a consumer',
      'delete a stream',
      'create a stream',
      'acknowledge a remote job',
      'subscribe to mail.>',
      "read delivery-agent's replies",
      "read mailbox-store's replies",
      'read every reply',
    ],
    // It answers local jobs (their own subject), but publishes nothing else: no result to the stream, nothing into an inbox.
    'mailbox-store': Object.keys(attempts).filter((a) => !["take the local lane's jobs", 'publish a local job result', "read mailbox-store's replies"].includes(a) && !/read a spooled message/.test(a)),
  };
  for (const service of NATS_SERVICES) {
    test(`NATS refuses ${service}'s user everything outside its job (${refusals[service].length} calls)`, async () => {
      const problems: string[] = [];
      for (const attempt of refusals[service]) {
        // A fresh connection for each: a refused subscription may close the connection's handling of it.
        const nats = await natsAs(service);
        try {
          await attempts[attempt]!(nats).then(
            () => problems.push(`${attempt}: allowed`),
            (err: unknown) => void (violation(err) || problems.push(`${attempt}: failed, but not as a permissions violation: ${String(err)}`)),
          );
        } finally {
          await nats.nc.close();
        }
      }
      assert.deepEqual(problems, []);
    });
  }

  test('pop3-access and mailctl have no NATS user at all: every name and password is refused', async () => {
    for (const user of ['pop3-access', 'mailctl', 'mail']) {
      for (const password of ['', 'none', system.natsAuth.passwords['smtp-ingress']]) {
        await assert.rejects(natsAs(user, password), /Authorization|auth/i, `${user}/${password}`);
      }
    }
    // A service's own user with another service's password is refused too.
    await assert.rejects(natsAs('queue-manager', system.natsAuth.passwords['smtp-ingress']), /Authorization|auth/i);
  });

  test('NATS refuses a connection without the password', async () => {
    await assert.rejects(natsConnect({ servers: system.natsUrl, tls: { caFile }, reconnect: false, timeout: 2000 }), /Authorization|auth/i);
  });

  test('no NATS password appears in any log line', () => {
    for (const [name, service] of Object.entries(system.services)) {
      for (const password of Object.values(system.natsAuth.passwords)) assert.ok(!service.output().includes(password), name);
    }
  });
});
