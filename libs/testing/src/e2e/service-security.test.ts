// Inter-service security: gRPC over mutual TLS between the services (and mailctl), NATS with a
// password and TLS. The whole mail path still works, and clients without the right credentials are
// turned away.
import { strict as assert } from 'node:assert';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MailboxStoreClient } from '@mail/contracts';
import { clientCredentials, grpc, loadGrpcTlsSettings, unary } from '@mail/platform';
import { connect as natsConnect } from '@nats-io/transport-node';
import { poplibFetch, smtplibSend } from '../clients.js';
import type { MailSystem } from '../mail-system.js';
import { createTestCa } from '../test-ca.js';
import { expectCli, PASSWORD, splitTrace, startSystemWithUsers, waitForMessageCount } from './helpers.js';

const NATS_PASSWORD = 'nats-secret-that-must-not-leak';

describe('gRPC mutual TLS and NATS credentials with TLS', () => {
  let system: MailSystem;
  let grpcEnv: Record<string, string>;
  let caFile: string;
  before(async () => {
    const work = await mkdtemp(join(tmpdir(), 'mail-mtls-'));
    const ca = await createTestCa(join(work, 'ca'));
    caFile = ca.caFile;
    const service = await ca.issue('service', ['localhost', '127.0.0.1']);
    grpcEnv = { GRPC_TLS: 'true', GRPC_MTLS: 'true', GRPC_TLS_CERT_FILE: service.certFile, GRPC_TLS_KEY_FILE: service.keyFile, GRPC_TLS_CA_FILE: ca.caFile };
    system = await startSystemWithUsers(['carol@example.test'], {
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
    const noCert = new MailboxStoreClient(system.grpcAddress, clientCredentials({ ...loadGrpcTlsSettings(grpcEnv), mutual: false }));
    await assert.rejects(unary(noCert.listDomains.bind(noCert), {}, 2000));
    noCert.close();
    const good = new MailboxStoreClient(system.grpcAddress, clientCredentials(loadGrpcTlsSettings(grpcEnv)));
    assert.deepEqual((await unary(good.listDomains.bind(good), {}, 5000)).domains, ['example.test']);
    good.close();
  });

  test('NATS refuses a connection without the password', async () => {
    await assert.rejects(natsConnect({ servers: system.natsUrl, tls: { caFile }, reconnect: false, timeout: 2000 }), /Authorization|auth/i);
  });

  test('the NATS password appears in no log line', () => {
    for (const [name, service] of Object.entries(system.services)) assert.doesNotMatch(service.output(), new RegExp(NATS_PASSWORD), name);
  });
});
