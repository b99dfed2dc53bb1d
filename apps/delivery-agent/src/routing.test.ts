// Routing (RFC 5321 §5.1, RFC 7505): transport map, MX preference order, implicit MX, null MX, DNS errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderMx, parseTransportMap, route, transportFor, type MxResolver } from './routing.js';

const resolver = (mx: Record<string, { exchange: string; priority: number }[] | string>, addresses: string[] = []): MxResolver => ({
  resolveMx: async (domain) => {
    const records = mx[domain];
    if (typeof records === 'string') throw Object.assign(new Error(records), { code: records });
    if (!records) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
    return records;
  },
  hasAddress: async (domain) => addresses.includes(domain),
});

test('MX records are tried by preference, lowest first', () => {
  const order = orderMx([
    { exchange: 'c.example.', priority: 30 },
    { exchange: 'a.example.', priority: 10 },
    { exchange: 'b.example.', priority: 20 },
  ]);
  assert.deepEqual(order, ['a.example', 'b.example', 'c.example']);
});

test('MX records of equal preference are shuffled (RFC 5321 §5.1)', () => {
  const records = [
    { exchange: 'x.example', priority: 10 },
    { exchange: 'y.example', priority: 10 },
  ];
  assert.deepEqual(orderMx(records, () => 0.1 + 0 * 0), ['x.example', 'y.example']);
  let flip = 0;
  assert.deepEqual(orderMx(records, () => (flip++ === 0 ? 0.9 : 0.1)), ['y.example', 'x.example']);
});

test('a domain with MX records routes to them on port 25', async () => {
  const result = await route('example.com', new Map(), resolver({ 'example.com': [{ exchange: 'mx2.example.com', priority: 20 }, { exchange: 'mx1.example.com', priority: 10 }] }));
  assert.deepEqual(result, { kind: 'hops', hops: [{ host: 'mx1.example.com', port: 25 }, { host: 'mx2.example.com', port: 25 }] });
});

test('without MX records the domain itself is the implicit MX when it has an address', async () => {
  const result = await route('plain.example', new Map(), resolver({ 'plain.example': 'ENODATA' }, ['plain.example']));
  assert.deepEqual(result, { kind: 'hops', hops: [{ host: 'plain.example', port: 25 }] });
});

test('a null MX (RFC 7505) fails at once with 556 5.1.10', async () => {
  const result = await route('nomail.example', new Map(), resolver({ 'nomail.example': [{ exchange: '.', priority: 0 }] }));
  assert.equal(result.kind, 'no-mail');
  assert.match((result as { reply: string }).reply, /^556 5\.1\.10 /);
});

test('a domain with neither MX nor address records fails permanently', async () => {
  const result = await route('void.example', new Map(), resolver({}));
  assert.deepEqual(result.kind, 'unresolvable');
  assert.equal((result as { permanent: boolean }).permanent, true);
});

test('a DNS server failure is temporary', async () => {
  const result = await route('flaky.example', new Map(), resolver({ 'flaky.example': 'ESERVFAIL' }));
  assert.equal(result.kind, 'unresolvable');
  assert.equal((result as { permanent: boolean }).permanent, false);
  assert.match((result as { reply: string }).reply, /^451 4\.4\.3/);
});

test('the transport map wins over DNS: exact domain, then parent domains (.suffix), then *', () => {
  const map = parseTransportMap('example.com=10.0.0.1:2525, .example.org=relay.internal:25, *=smarthost:587');
  assert.deepEqual(transportFor(map, 'EXAMPLE.com'), { host: '10.0.0.1', port: 2525 });
  assert.deepEqual(transportFor(map, 'mail.example.org'), { host: 'relay.internal', port: 25 });
  assert.deepEqual(transportFor(map, 'elsewhere.net'), { host: 'smarthost', port: 587 });
  assert.equal(transportFor(parseTransportMap('example.com=a:1'), 'other.com'), undefined);
});

test('a malformed transport map is refused with the offending entry', () => {
  assert.throws(() => parseTransportMap('example.com'), /"example.com" is not domain=host:port/);
  assert.throws(() => parseTransportMap('example.com=host:99999'), /bad port/);
});

test('an address literal routes to that address', async () => {
  const result = await route('[192.0.2.7]', new Map(), resolver({}));
  assert.deepEqual(result, { kind: 'hops', hops: [{ host: '192.0.2.7', port: 25 }], configured: true }, 'not MX records: MTA-STS does not apply');
});
