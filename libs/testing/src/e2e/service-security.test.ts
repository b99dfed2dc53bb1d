// Inter-service security: gRPC over mutual TLS between the services (and mailctl), each with its own
// certificate naming it, NATS with a password and TLS. The whole mail path still works, clients without
// the right credentials are turned away, and each service may call only the methods its job needs.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MailboxStoreClient, QueueAdminClient } from '@mail/contracts';
import { clientCredentials, grpc, loadGrpcTlsSettings, unary } from '@mail/platform';
import { connect as natsConnect } from '@nats-io/transport-node';
import { poplibFetch, smtplibSend } from '../clients.js';
import { SERVICE_NAMES, type MailSystem } from '../mail-system.js';
import { createTestCa } from '../test-ca.js';
import { temporaryDirectory } from '../temporary-directories.js';
import { expectCli, PASSWORD, splitTrace, startSystemWithUsers, waitForMessageCount } from './helpers.js';

const NATS_PASSWORD = 'nats-secret-that-must-not-leak';

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
      natsArgs: ['--user', 'mail', '--pass', NATS_PASSWORD, '--tls', '--tlscert', service.certFile, '--tlskey', service.keyFile],
      env: {
        ...grpcEnv,
        NATS_USER: 'mail',
        NATS_PASSWORD,
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

  test('NATS refuses a connection without the password', async () => {
    await assert.rejects(natsConnect({ servers: system.natsUrl, tls: { caFile }, reconnect: false, timeout: 2000 }), /Authorization|auth/i);
  });

  test('the NATS password appears in no log line', () => {
    for (const [name, service] of Object.entries(system.services)) assert.doesNotMatch(service.output(), new RegExp(NATS_PASSWORD), name);
  });
});
