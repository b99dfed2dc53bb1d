// Credential checks under the failed-login throttle, and its administration (mailctl auth): the policy of
// @mail/platform's auth-throttle applied to the records the storage backend keeps for every replica.
// Exports createLoginChecks: authenticate, testPassword, listRecords, clearRecords.
import {
  AuthRecordKind,
  type AuthenticateReply,
  type AuthenticateRequest,
  type AuthRecord,
  type ClearAuthRecordsRequest,
  type TestPasswordReply,
} from '@mail/contracts';
import { grpc, RpcError } from '@mail/platform';
import { authKeyMatches, authThrottleKeys, describeAuthKey, failedPasswordTag, failureDelayMs, failureWindowStart, isAuthLocked, lockAfterFailure, type AuthFailureRecord, type AuthThrottleSettings } from './auth-throttle.js';
import { normaliseAddress } from './addresses.js';
import type { MailboxEvents } from './events.js';
import { dummyHashPromise, verifyPassword } from './passwords.js';
import type { MailStore } from './store/types.js';

const RECORD_KIND = {
  login: AuthRecordKind.AUTH_RECORD_KIND_LOGIN,
  address: AuthRecordKind.AUTH_RECORD_KIND_ADDRESS,
  account: AuthRecordKind.AUTH_RECORD_KIND_ACCOUNT,
} as const;

export function createLoginChecks(store: MailStore, events: MailboxEvents, throttle: AuthThrottleSettings, now: () => number) {
  /** The account when the password is its own; the same scrypt work for an unknown user (no timing difference). */
  async function checkPassword(address: string, password: string): Promise<string | undefined> {
    const account = address.length <= 512 ? await store.getAccount(normaliseAddress(address)) : undefined;
    const ok = await verifyPassword(password, account?.passwordHash ?? (await dummyHashPromise));
    return ok && account ? account.address : undefined;
  }

  /** Counts one failure under a key; locks it when `maxFailures` (0: never) is reached. */
  async function countFailure(key: string, tag: string, maxFailures: number, req: AuthenticateRequest, failedAt: number): Promise<AuthFailureRecord> {
    const record = await store.addAuthFailure(key, failedAt, throttle.windowMs, tag);
    const lockedUntil = lockAfterFailure(record, maxFailures, throttle, failedAt);
    if (lockedUntil !== undefined) {
      await store.lockAuth(key, lockedUntil);
      if (!isAuthLocked(record, failedAt)) {
        const { kind, account } = describeAuthKey(key);
        events.emit({ event: 'logins-locked', keyKind: kind, clientAddress: req.clientAddress, account: account ?? '', service: req.service, failures: record.failures, lockMs: throttle.lockMs });
      }
    }
    return record;
  }

  /**
   * While this login (or, under a hard per-address limit, this address) is locked the password is not even
   * checked (no scrypt work), and the answer is the same for an unknown account as for an existing one.
   * Other accounts' failures from the same address never refuse a right password: they only delay wrong
   * ones. A failure counts under the login, the address and the account, once per distinct wrong password;
   * a success clears the login's failures only (one good password does not excuse many bad ones elsewhere).
   * Attempts already past the lock check when the lock falls are still checked: at most one per connection.
   */
  async function authenticate(req: AuthenticateRequest): Promise<AuthenticateReply> {
    const keys = authThrottleKeys(req.clientAddress, req.address);
    const checkedAt = now();
    const records = await store.getAuthFailures([keys.login, ...(keys.address ? [keys.address] : [])], failureWindowStart(throttle, checkedAt));
    const locks = [records.get(keys.login), throttle.addressMaxFailures > 0 && keys.address ? records.get(keys.address) : undefined];
    const lockedUntil = Math.max(0, ...locks.filter((record) => isAuthLocked(record, checkedAt)).map((record) => record!.lockedUntilMs));
    if (lockedUntil > 0) {
      const failures = Math.max(0, ...[...records.values()].map((record) => record.failures));
      return { ok: false, mailbox: '', locked: true, failures, delayMs: 0, retryAfterMs: lockedUntil - checkedAt };
    }
    const mailbox = await checkPassword(req.address, req.password);
    if (mailbox) {
      await store.clearAuthFailures(keys.login);
      return { ok: true, mailbox, locked: false, failures: 0, delayMs: 0, retryAfterMs: 0 };
    }
    const failedAt = now();
    const tag = failedPasswordTag(keys.login, req.password);
    const counted = [
      await countFailure(keys.login, tag, throttle.maxFailures, req, failedAt),
      ...(keys.address ? [await countFailure(keys.address, tag, throttle.addressMaxFailures, req, failedAt)] : []),
      await countFailure(keys.account, tag, 0, req, failedAt),
    ];
    const failures = Math.max(...counted.map((record) => record.failures));
    return { ok: false, mailbox: '', locked: false, failures, delayMs: failureDelayMs(failures, throttle), retryAfterMs: 0 };
  }

  async function testPassword(address: string, password: string): Promise<TestPasswordReply> {
    const mailbox = await checkPassword(address, password);
    return { ok: mailbox !== undefined, mailbox: mailbox ?? '' };
  }

  /** The records that count now, locked ones first, then by failures. */
  async function listRecords(): Promise<AuthRecord[]> {
    const at = now();
    const records = await store.listAuthRecords(failureWindowStart(throttle, at), at);
    return records
      .map(({ key, failures, lockedUntilMs }) => {
        const { kind, clientAddress, account } = describeAuthKey(key);
        return { kind: RECORD_KIND[kind], clientAddress: clientAddress ?? '', account: account ?? '', failures, lockedUntilMs: lockedUntilMs > at ? lockedUntilMs : 0 };
      })
      .sort((a, b) => Number(b.lockedUntilMs > 0) - Number(a.lockedUntilMs > 0) || b.failures - a.failures);
  }

  /** Forgets every record of the address and/or account; returns how many. */
  async function clearRecords(req: ClearAuthRecordsRequest): Promise<number> {
    const filter = { ...(req.clientAddress.trim() ? { clientAddress: req.clientAddress } : {}), ...(req.account.trim() ? { account: req.account } : {}) };
    if (Object.keys(filter).length === 0) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'name a client address, an account, or both');
    const at = now();
    const matching = (await store.listAuthRecords(failureWindowStart(throttle, at), at)).filter(({ key }) => authKeyMatches(key, filter));
    for (const { key } of matching) await store.clearAuthFailures(key);
    events.emit({ event: 'auth-records-cleared', clientAddress: req.clientAddress, account: req.account, cleared: matching.length });
    return matching.length;
  }

  return { authenticate, testPassword, listRecords, clearRecords };
}
