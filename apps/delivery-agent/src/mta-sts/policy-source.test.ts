// Policy fetching and caching against real parts: the loopback DNS server, an HTTPS server with a test-CA
// certificate, and a real nats-server for the shared cache. RFC 8461 §3.3 (fetch rules) and §5.1 (cache).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createDnsLookup, type DnsLookup } from '@mail/platform';
import { createTestCa, PolicyServer, startDnsServer, stsPolicyText, temporaryDirectory, withTwoNatsClients, type TestDnsServer } from '@mail/testing';
import { fetchPolicyText, PolicyFetchError } from './fetch.js';
import { PolicySource } from './policy-source.js';
import { KvPolicyStore, MemoryPolicyStore } from './policy-store.js';

describe('MTA-STS policy fetch and cache', () => {
  let dns: TestDnsServer;
  let lookup: DnsLookup;
  const https = new PolicyServer();
  const wrongName = new PolicyServer();
  let extraCa = '';
  const DOMAINS = ['good.test', 'moved.test', 'html.test', 'huge.test', 'slow.test', 'wrongcert.test', 'broken.test', 'cached.test', 'shared.test', 'dead.test'];

  before(async () => {
    dns = await startDnsServer();
    lookup = createDnsLookup({ servers: [dns.address], timeoutMs: 2000 });
    const ca = await createTestCa(await temporaryDirectory('sts-ca-'));
    extraCa = await readFile(ca.caFile, 'utf8');
    await https.start(await ca.issue('policy', DOMAINS.map((d) => `mta-sts.${d}`)));
    await wrongName.start(await ca.issue('other', ['somewhere-else.test']));
    for (const domain of DOMAINS) dns.a(`mta-sts.${domain}`, '127.0.0.1');
  });
  after(async () => {
    await https.stop();
    await wrongName.stop();
    await dns.close();
  });

  const options = (port = https.port) => ({ lookup, port, timeoutMs: 1500, maxBytes: 64 * 1024, extraCa });
  const fetchError = async (domain: string, port?: number) => {
    try {
      await fetchPolicyText(domain, options(port));
    } catch (err) {
      assert.ok(err instanceof PolicyFetchError, `a PolicyFetchError, not ${String(err)}`);
      return err;
    }
    assert.fail(`the fetch for ${domain} succeeded`);
  };

  test('a policy is fetched over HTTPS from mta-sts.<domain>, its name resolved by our DNS, its certificate by the extra CA', async () => {
    https.answers.set('mta-sts.good.test', { body: stsPolicyText('enforce', ['mx.good.test']) });
    assert.equal(await fetchPolicyText('good.test', options()), stsPolicyText('enforce', ['mx.good.test']));
    assert.equal(https.requests.at(-1), 'mta-sts.good.test');
  });

  test('without the extra CA the certificate is not trusted: sts-webpki-invalid', async () => {
    https.answers.set('mta-sts.good.test', { body: stsPolicyText('enforce', ['mx.good.test']) });
    await assert.rejects(fetchPolicyText('good.test', { ...options(), extraCa: undefined }), (err: PolicyFetchError) => err.resultType === 'sts-webpki-invalid');
  });

  test('a certificate for another name: sts-webpki-invalid', async () => {
    const err = await fetchError('wrongcert.test', wrongName.port);
    assert.equal(err.resultType, 'sts-webpki-invalid');
  });

  test('a redirect is not followed (§3.3)', async () => {
    https.answers.set('mta-sts.moved.test', { status: 301, location: 'https://mta-sts.good.test/.well-known/mta-sts.txt' });
    const err = await fetchError('moved.test');
    assert.match(err.message, /HTTP 301.*not followed/);
    assert.equal(err.resultType, 'sts-policy-fetch-error');
  });

  test('a media type other than text/plain is refused', async () => {
    https.answers.set('mta-sts.html.test', { body: '<html></html>', contentType: 'text/html' });
    assert.match((await fetchError('html.test')).message, /media type is "text\/html"/);
  });

  test('a body over the size limit is refused without reading it all', async () => {
    https.answers.set('mta-sts.huge.test', { body: 'x'.repeat(200 * 1024) });
    assert.match((await fetchError('huge.test')).message, /over the 65536-byte limit/);
  });

  test('a server that stalls mid-body runs into the deadline', async () => {
    https.answers.set('mta-sts.slow.test', { body: stsPolicyText('enforce', ['mx.slow.test']), stallMs: 10_000 });
    const started = Date.now();
    assert.match((await fetchError('slow.test')).message, /no complete answer within 1500 ms/);
    assert.ok(Date.now() - started < 5000);
  });

  test('a name without an address is a fetch error', async () => {
    assert.match((await fetchError('nowhere.test')).message, /mta-sts\.nowhere\.test/);
  });

  test('cache: reused while the TXT id is the same and max_age lasts; fetched again when the id changes or max_age runs out', async () => {
    let now = 1_000_000;
    const source = new PolicySource(lookup, new MemoryPolicyStore(), options(), () => now);
    dns.txt('_mta-sts.cached.test', 'v=STSv1; id=one');
    https.answers.set('mta-sts.cached.test', { body: stsPolicyText('enforce', ['mx.cached.test'], 600) });
    const fetches = () => https.requests.filter((h) => h === 'mta-sts.cached.test').length;

    assert.deepEqual(await source.policyFor('cached.test'), { kind: 'policy', id: 'one', policy: { mode: 'enforce', mx: ['mx.cached.test'], maxAge: 600 }, source: 'fetched' });
    now += 599_000;
    assert.equal(((await source.policyFor('cached.test')) as { source: string }).source, 'cache');
    assert.equal(fetches(), 1);

    dns.remove('_mta-sts.cached.test');
    dns.txt('_mta-sts.cached.test', 'v=STSv1; id=two');
    https.answers.set('mta-sts.cached.test', { body: stsPolicyText('testing', ['mx.cached.test'], 600) });
    await new Promise((resolve) => setTimeout(resolve, 1100)); // the test DNS server's TTL is 1 s
    const changed = await source.policyFor('cached.test');
    assert.equal(changed.kind === 'policy' && changed.policy.mode, 'testing', 'a new id: fetched again');
    assert.equal(fetches(), 2);

    now += 601_000;
    assert.equal(((await source.policyFor('cached.test')) as { source: string }).source, 'fetched', 'max_age over: fetched again');
    assert.equal(fetches(), 3);

    // The policy host fails, but the cached policy is unexpired: it holds (§5.1).
    dns.remove('_mta-sts.cached.test');
    dns.txt('_mta-sts.cached.test', 'v=STSv1; id=three');
    https.answers.delete('mta-sts.cached.test');
    const held = await source.policyFor('cached.test');
    assert.equal(held.kind === 'policy' && held.id, 'two');
    // And so when the TXT record disappears.
    dns.remove('_mta-sts.cached.test');
    assert.equal((await source.policyFor('cached.test')).kind, 'policy');
    now += 601_000;
    assert.deepEqual(await source.policyFor('cached.test'), { kind: 'none' }, 'expired and no record: no policy');
  });

  test('no cached policy and a broken policy file: unavailable, with the RFC 8460 result type', async () => {
    const source = new PolicySource(lookup, new MemoryPolicyStore(), options());
    dns.txt('_mta-sts.broken.test', 'v=STSv1; id=b1');
    https.answers.set('mta-sts.broken.test', { body: 'version: STSv1\nmode: sometimes\nmax_age: 1\n' });
    const result = await source.policyFor('broken.test');
    assert.equal(result.kind, 'unavailable');
    assert.equal(result.kind === 'unavailable' && result.resultType, 'sts-policy-invalid');
    assert.equal((await source.policyFor('broken.test')).kind, 'unavailable');
    assert.equal(https.requests.filter((h) => h === 'mta-sts.broken.test').length, 2, 'without a retry pause, every delivery fetches');
    assert.deepEqual(await source.policyFor('no-record.test'), { kind: 'none' });
  });

  test('a failed fetch is not repeated within the retry pause for the same id; after it, or with a new id, it is', async () => {
    let now = 5_000_000;
    const source = new PolicySource(lookup, new MemoryPolicyStore(), { ...options(), retryFailedAfterMs: 60_000 }, () => now);
    dns.txt('_mta-sts.dead.test', 'v=STSv1; id=d1');
    const fetches = () => https.requests.filter((h) => h === 'mta-sts.dead.test').length;
    const result = await source.policyFor('dead.test');
    assert.equal(result.kind === 'unavailable' && result.resultType, 'sts-policy-fetch-error', 'answered 404');
    assert.equal((await source.policyFor('dead.test')).kind, 'unavailable');
    assert.equal(fetches(), 1, 'within the pause: not fetched again');
    now += 61_000;
    await source.policyFor('dead.test');
    assert.equal(fetches(), 2, 'after the pause: fetched again');
    dns.remove('_mta-sts.dead.test');
    dns.txt('_mta-sts.dead.test', 'v=STSv1; id=d2');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await source.policyFor('dead.test');
    assert.equal(fetches(), 3, 'a new id: fetched at once');
  });

  test('the KV cache is shared by replicas and outlives the process that fetched', async () => {
    dns.txt('_mta-sts.shared.test', 'v=STSv1; id=s1');
    https.answers.set('mta-sts.shared.test', { body: stsPolicyText('enforce', ['mx.shared.test']) });
    await withTwoNatsClients(async (a, b) => {
      const first = new PolicySource(lookup, await KvPolicyStore.open(a), options());
      assert.equal(((await first.policyFor('shared.test')) as { source: string }).source, 'fetched');
      const second = new PolicySource(lookup, await KvPolicyStore.open(b), options());
      assert.equal(((await second.policyFor('shared.test')) as { source: string }).source, 'cache');
    });
    assert.equal(https.requests.filter((h) => h === 'mta-sts.shared.test').length, 1);
  });
});
