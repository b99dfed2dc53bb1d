// Failed-login throttling, the arithmetic only (mailbox-store's own rule, so it lives here): mailbox-store applies it to the records its storage backend
// keeps, so that every replica of every edge service shares one count. Failures are counted under three
// keys: the login (client address + account name), the client address, and the account name (existing or
// not, so that nothing reveals which accounts exist). Only the login key locks: one account from one
// address, refused without a password check. The address and account keys only delay failures, so that
// guesses from behind a shared NAT never lock out the other users there, nor guesses from elsewhere the
// user; an explicit hard per-address limit (addressMaxFailures) can lock the whole address.
import { createHash } from 'node:crypto';

export interface AuthThrottleSettings {
  /** Failures of one account from one client address within one window that lock that login. */
  maxFailures: number;
  windowMs: number;
  lockMs: number;
  /** Delay added to the answer after the first failure; doubles with each further one. */
  baseDelayMs: number;
  maxDelayMs: number;
  /**
   * Failures from one client address (any accounts) within the window that lock the address for every
   * account, correct passwords included; 0 (the default): never, the address's failures only delay.
   */
  addressMaxFailures: number;
}

/** One key's failed-login record as a storage backend reports it at some moment. */
export interface AuthFailureRecord {
  /** Failures in the window that ends at that moment (see failureWindowStart). */
  failures: number;
  /** Attempts are refused without checking the password until then (0: not locked). */
  lockedUntilMs: number;
}

/** The keys one attempt is counted under. */
export interface AuthThrottleKeys {
  /** This account from this address (from an unknown address when the edge sent none): the key that locks. */
  login: string;
  /** The client address, when known: delays, and locks only under addressMaxFailures. */
  address?: string;
  /** The account name from anywhere: delays only. */
  account: string;
}

/** Values longer than this are hashed, so that a key stays small enough for any index. */
const LONGEST_KEY_VALUE = 256;

const normaliseAccount = (account: string) => account.trim().toLowerCase();

function throttleKey(kind: 'ip' | 'account' | 'login', value: string): string {
  return value.length <= LONGEST_KEY_VALUE ? `${kind}:${value}` : `${kind}#${createHash('sha256').update(value).digest('hex')}`;
}

/** The keys of one attempt. The login key is "login:<address> <account>" (an address has no space). */
export function authThrottleKeys(clientAddress: string, account: string): AuthThrottleKeys {
  const address = clientAddress.trim();
  const name = normaliseAccount(account);
  return {
    login: throttleKey('login', `${address} ${name}`),
    ...(address ? { address: throttleKey('ip', address) } : {}),
    account: throttleKey('account', name),
  };
}

/** What an operator sees of a key: its kind and, unless it was hashed, its client address and account. */
export interface AuthKeyParts {
  kind: 'login' | 'address' | 'account';
  clientAddress?: string;
  account?: string;
}

export function describeAuthKey(key: string): AuthKeyParts {
  const match = /^(login|ip|account)([:#])(.*)$/s.exec(key);
  if (!match) return { kind: 'account' };
  const kind = match[1] === 'ip' ? 'address' : (match[1] as 'login' | 'account');
  if (match[2] === '#') return { kind };
  const value = match[3]!;
  if (kind === 'address') return { kind, clientAddress: value };
  if (kind === 'account') return { kind, account: value };
  const space = value.indexOf(' ');
  return { kind, clientAddress: value.slice(0, space), account: value.slice(space + 1) };
}

/** True when the key belongs to this client address and/or account (the operator's unlock filter). */
export function authKeyMatches(key: string, filter: { clientAddress?: string; account?: string }): boolean {
  const parts = describeAuthKey(key);
  const address = filter.clientAddress?.trim();
  const account = filter.account === undefined ? undefined : normaliseAccount(filter.account);
  if (address !== undefined && parts.clientAddress !== address) return false;
  if (account !== undefined && parts.account !== account) return false;
  return address !== undefined || account !== undefined;
}

/**
 * A short tag of one failed attempt's password, so that the same wrong password tried again (a client
 * retrying with another mechanism, a phone polling with an old password) is not counted again. Only 32
 * bits of a hash salted with the login key are kept: far too few to recover a password from.
 */
export const failedPasswordTag = (loginKey: string, password: string): string =>
  createHash('sha256').update(loginKey).update('\0').update(password).digest('hex').slice(0, 8);

/** True while the key is locked: answer "try later" without checking credentials. */
export const isAuthLocked = (record: AuthFailureRecord | undefined, now: number): boolean => (record?.lockedUntilMs ?? 0) > now;

/** Failures after this moment count at `now`; older ones no longer do. */
export const failureWindowStart = (settings: AuthThrottleSettings, now: number): number => now - settings.windowMs;

/**
 * After a failure was counted under a key that locks at `maxFailures` (0: never): until when the key is
 * locked, or undefined when it is not (yet).
 */
export function lockAfterFailure(record: AuthFailureRecord, maxFailures: number, settings: AuthThrottleSettings, now: number): number | undefined {
  if (settings.lockMs <= 0 || maxFailures <= 0 || record.failures < maxFailures) return undefined;
  return now + settings.lockMs;
}

/** How long to wait before answering the `failures`-th failure in a window: doubling, capped. */
export function failureDelayMs(failures: number, settings: AuthThrottleSettings): number {
  if (failures < 1) return 0;
  return Math.min(settings.baseDelayMs * 2 ** (failures - 1), settings.maxDelayMs);
}
