// Failed-login throttling, the arithmetic only: mailbox-store applies it to the records its storage backend
// keeps, so that every replica of every edge service shares one count. Failures are counted per client
// address and per account name (whether or not the account exists, so the lock itself reveals nothing)
// over a sliding window; reaching the maximum locks the key for a while, and each failure adds a growing
// delay to the answer (applied by the edge that answers the client).
import { createHash } from 'node:crypto';

export interface AuthThrottleSettings {
  /** Failures within one window that lock the address or account. */
  maxFailures: number;
  windowMs: number;
  lockMs: number;
  /** Delay added to the answer after the first failure; doubles with each further one. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** One key's failed-login record as a storage backend reports it at some moment. */
export interface AuthFailureRecord {
  /** Failures in the window that ends at that moment (see failureWindowStart). */
  failures: number;
  /** Attempts are refused without checking the password until then (0: not locked). */
  lockedUntilMs: number;
}

/** Values longer than this are hashed, so that a key stays small enough for any index. */
const LONGEST_KEY_VALUE = 256;

function throttleKey(kind: 'ip' | 'account', value: string): string {
  return value.length <= LONGEST_KEY_VALUE ? `${kind}:${value}` : `${kind}#${createHash('sha256').update(value).digest('hex')}`;
}

/** The record key of an account name: lower-cased and trimmed, existing or not. */
export const accountThrottleKey = (account: string): string => throttleKey('account', account.trim().toLowerCase());

/** The record keys one attempt is counted under: the client address (when known) and the account name. */
export function authThrottleKeys(clientAddress: string, account: string): string[] {
  const address = clientAddress.trim();
  return address ? [throttleKey('ip', address), accountThrottleKey(account)] : [accountThrottleKey(account)];
}

/** True while the key is locked: answer "try later" without checking credentials. */
export const isAuthLocked = (record: AuthFailureRecord | undefined, now: number): boolean => (record?.lockedUntilMs ?? 0) > now;

/** Failures after this moment count at `now`; older ones no longer do. */
export const failureWindowStart = (settings: AuthThrottleSettings, now: number): number => now - settings.windowMs;

/** After a failure was counted: until when the key is locked, or undefined when it is not (yet). */
export function lockAfterFailure(record: AuthFailureRecord, settings: AuthThrottleSettings, now: number): number | undefined {
  if (settings.lockMs <= 0 || record.failures < settings.maxFailures) return undefined;
  return now + settings.lockMs;
}

/** How long to wait before answering the `failures`-th failure in a window: doubling, capped. */
export function failureDelayMs(failures: number, settings: AuthThrottleSettings): number {
  if (failures < 1) return 0;
  return Math.min(settings.baseDelayMs * 2 ** (failures - 1), settings.maxDelayMs);
}
