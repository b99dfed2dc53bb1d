// The authentication policy: what a DMARC result leads to, globally and per author domain, with the
// allow list; a temporary DNS failure is never a refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, modeFor, parseAllowList, parseDomainModes, type AuthPolicy } from './policy.js';
import type { AuthVerdict } from './verdict.js';

const policy = (overrides: Partial<AuthPolicy> = {}): AuthPolicy => ({
  mode: 'enforce',
  byDomain: new Map(),
  onTemporaryFailure: 'accept',
  allow: parseAllowList(''),
  ...overrides,
});

const verdict = (dmarc: AuthVerdict['dmarc'], extra: Partial<AuthVerdict> = {}): AuthVerdict => ({
  results: [],
  authorDomain: 'bank.example',
  dmarc,
  temporaryFailure: false,
  ...extra,
});

test('mark (the default mode) accepts whatever DMARC says', () => {
  assert.deepEqual(decide(verdict({ result: 'fail', policy: 'reject' }), policy({ mode: 'mark' }), '192.0.2.1'), { action: 'accept' });
});

test('enforce: a DMARC fail under p=reject is refused, under p=quarantine deferred, under p=none accepted', () => {
  assert.deepEqual(decide(verdict({ result: 'fail', policy: 'reject' }), policy(), '192.0.2.1'), { action: 'reject', domain: 'bank.example' });
  assert.equal(decide(verdict({ result: 'fail', policy: 'quarantine' }), policy(), '192.0.2.1').action, 'defer');
  assert.equal(decide(verdict({ result: 'fail', policy: 'none' }), policy(), '192.0.2.1').action, 'accept');
  assert.equal(decide(verdict({ result: 'pass', policy: 'reject' }), policy(), '192.0.2.1').action, 'accept');
  assert.equal(decide(verdict({ result: 'none' }), policy(), '192.0.2.1').action, 'accept');
});

test('a DNS failure is accepted and marked, or deferred where the settings say so, never refused', () => {
  assert.equal(decide(verdict({ result: 'temperror' }), policy(), '192.0.2.1').action, 'accept');
  assert.equal(decide(verdict({ result: 'temperror' }), policy({ onTemporaryFailure: 'defer' }), '192.0.2.1').action, 'defer');
  // DMARC's record was found, but SPF or DKIM could not be checked: the fail may be the outage's doing.
  const failedByOutage = verdict({ result: 'fail', policy: 'reject' }, { temporaryFailure: true });
  assert.equal(decide(failedByOutage, policy(), '192.0.2.1').action, 'accept');
  assert.equal(decide(failedByOutage, policy({ onTemporaryFailure: 'defer' }), '192.0.2.1').action, 'defer');
});

test('the mode per author domain: its own entry, then a parent\'s ".domain" entry, then the global mode', () => {
  const p = policy({ mode: 'mark', byDomain: parseDomainModes('bank.example=enforce, .corp.example=enforce, lax.corp.example=mark') });
  assert.equal(modeFor(p, 'bank.example'), 'enforce');
  assert.equal(modeFor(p, 'BANK.example'), 'enforce');
  assert.equal(modeFor(p, 'www.bank.example'), 'mark', 'a plain entry does not cover subdomains');
  assert.equal(modeFor(p, 'a.b.corp.example'), 'enforce');
  assert.equal(modeFor(p, 'lax.corp.example'), 'mark');
  assert.equal(modeFor(p, 'other.example'), 'mark');
  assert.equal(decide(verdict({ result: 'fail', policy: 'reject' }), p, '192.0.2.1').action, 'reject');
  assert.equal(decide(verdict({ result: 'fail', policy: 'reject' }, { authorDomain: 'other.example' }), p, '192.0.2.1').action, 'accept');
});

test('the allow list: a client network, or a MAIL FROM domain only when SPF authorised it', () => {
  const p = policy({ allow: parseAllowList('198.51.100.0/24, lists.example.org') });
  const failed = { result: 'fail', policy: 'reject' } as const;
  assert.equal(decide(verdict(failed), p, '198.51.100.7').action, 'accept');
  assert.equal(decide(verdict(failed, { spfPassDomain: 'lists.example.org' }), p, '192.0.2.1').action, 'accept');
  assert.equal(decide(verdict(failed), p, '192.0.2.1').action, 'reject', 'the same sender domain without an SPF pass is not believed');
});

test('bad map and allow-list entries are refused with what was expected', () => {
  assert.throws(() => parseDomainModes('bank.example=drop'), /expected domain=mark or domain=enforce/);
  assert.throws(() => parseAllowList('not a domain!'), /expected a network/);
  assert.throws(() => parseAllowList('300.1.1.1/8'), /bad network/);
});
