// The queue's decisions as pure functions of (entry, input, now): which recipients are ready to go,
// what a delivery result changes, what time alone changes (expiry, lost jobs, delay warnings), and
// when the entry next needs attention. No I/O here: the effects room (queue-core.ts) writes and
// publishes what these return, so every rule can be tested with a plain clock.
import type { DeliveryResult } from '@mail/contracts';
import { domainOf, laneOf, pendingOf, type Destination, type Lane, type QueueEntry } from './entry.js';
import type { RetrySchedule } from '../retry-schedule.js';

export interface QueuePolicy {
  /** Back-off of remote destinations after temporary failures. */
  remoteRetry: RetrySchedule;
  /** Back-off of local deliveries (mailbox-store unavailable, disk full): shorter, it is our own store. */
  localRetry: RetrySchedule;
  /** A message still undelivered after this long is returned to its sender. */
  maxLifetimeMs: number;
  /** Warn the sender once after this long; 0 = never. */
  delayWarningMs: number;
  /** A remote job without a result after this long is taken as lost and tried again (a slow server may take minutes). */
  jobTimeoutMs: number;
  /**
   * The same for a local job: delivery into our own store takes milliseconds, so a job lost (its
   * request or answer gone with a broker node, or the mailbox-store holding it dead) is tried again
   * soon; a repeat is harmless (local delivery is idempotent).
   */
  localJobTimeoutMs: number;
}

/** Recipients of one message that go out together: one job, one transaction. */
export interface Group {
  lane: Lane;
  domain: string;
  recipients: string[];
}

/** What happened to one destination, for events and metrics. */
export interface DestinationChange {
  recipient: string;
  state: 'delivered' | 'failed' | 'deferred';
  reply: string;
  nextAttemptAt: number;
}

/** How a job went for its destination, the feedback admission control learns from. */
export type JobFeedback = 'success' | 'failure' | 'neutral';

const scheduleOf = (policy: QueuePolicy, destination: Destination) => (destination.local ? policy.localRetry : policy.remoteRetry);
const jobTimeoutOf = (policy: QueuePolicy, destination: Destination) => (destination.local ? policy.localJobTimeoutMs : policy.jobTimeoutMs);
const expired = (entry: QueueEntry, now: number, policy: QueuePolicy) => now - entry.receivedAt >= policy.maxLifetimeMs;

/** Pending destinations whose time has come and that have no job out, grouped by lane and domain. */
export function readyGroups(entry: QueueEntry, now: number): Group[] {
  if (entry.held) return [];
  const groups = new Map<string, Group>();
  for (const destination of pendingOf(entry)) {
    if (destination.job || destination.nextAttemptAt > now) continue;
    const lane = laneOf(destination);
    const domain = domainOf(destination.recipient);
    const key = `${lane}:${domain}`;
    const group = groups.get(key) ?? { lane, domain, recipients: [] };
    group.recipients.push(destination.recipient);
    groups.set(key, group);
  }
  return [...groups.values()];
}

/** Marks the group's destinations as handed to job `<queueId>.<n>`; returns the job id. Mutates `entry`. */
export function markDispatched(entry: QueueEntry, group: Group, now: number): string {
  const jobId = `${entry.queueId}.${entry.dispatches}`;
  entry.dispatches++;
  for (const destination of entry.destinations) {
    if (group.recipients.includes(destination.recipient) && destination.state === 'pending') {
      destination.job = jobId;
      destination.dispatchedAt = now;
    }
  }
  return jobId;
}

/** Takes a job back (it could not be published): its destinations are ready again. Mutates `entry`. */
export function unmarkDispatched(entry: QueueEntry, jobId: string): void {
  for (const destination of entry.destinations) if (destination.job === jobId) destination.job = '';
}

/** A failed attempt: the destination waits for its next step, or fails when the queue lifetime is over. */
function defer(entry: QueueEntry, destination: Destination, reply: string, now: number, policy: QueuePolicy): DestinationChange {
  destination.attempts++;
  destination.lastReply = reply;
  destination.lastAttemptAt = now;
  destination.job = '';
  if (expired(entry, now, policy)) {
    destination.state = 'failed';
    destination.lastReply = `4.4.7 message expired in the queue; last error: ${reply}`;
    return { recipient: destination.recipient, state: 'failed', reply: destination.lastReply, nextAttemptAt: 0 };
  }
  destination.nextAttemptAt = now + scheduleOf(policy, destination).delayAfter(destination.attempts);
  return { recipient: destination.recipient, state: 'deferred', reply, nextAttemptAt: destination.nextAttemptAt };
}

/**
 * Applies a delivery result. A "delivered" outcome counts whatever job brought it (the mail is there);
 * any other outcome only from the job the destination is waiting for, so a late answer of a job given
 * up on cannot undo a newer attempt. Recipients of the job the result leaves out are deferred.
 * Mutates `entry`; returns what changed and the feedback for the job's destination.
 */
export function settleResult(entry: QueueEntry, result: DeliveryResult, now: number, policy: QueuePolicy): { changes: DestinationChange[]; feedback: JobFeedback } {
  const changes: DestinationChange[] = [];
  let delivered = 0;
  let temporary = 0;
  const answered = new Set<string>();
  for (const outcome of result.results) {
    answered.add(outcome.recipient);
    const destination = entry.destinations.find((d) => d.recipient === outcome.recipient && d.state === 'pending');
    if (!destination) continue;
    const reply = outcome.reply ?? '';
    if (outcome.outcome === 'delivered') {
      delivered++;
      Object.assign(destination, { state: 'delivered', attempts: destination.attempts + 1, lastReply: reply, lastAttemptAt: now, remoteMta: outcome.remoteMta ?? '', job: '' });
      if (outcome.handoff) destination.handoff = outcome.handoff;
      changes.push({ recipient: destination.recipient, state: 'delivered', reply, nextAttemptAt: 0 });
      continue;
    }
    if (destination.job !== result.jobId) continue; // an answer from a job given up on
    destination.remoteMta = outcome.remoteMta ?? '';
    if (outcome.outcome === 'permanent') {
      Object.assign(destination, { state: 'failed', attempts: destination.attempts + 1, lastReply: reply, lastAttemptAt: now, job: '' });
      changes.push({ recipient: destination.recipient, state: 'failed', reply, nextAttemptAt: 0 });
    } else {
      temporary++;
      changes.push(defer(entry, destination, reply, now, policy));
    }
  }
  for (const destination of entry.destinations) {
    if (destination.state === 'pending' && destination.job === result.jobId && !answered.has(destination.recipient)) {
      temporary++;
      changes.push(defer(entry, destination, '451 4.3.0 delivery-agent gave no result for this recipient', now, policy));
    }
  }
  const feedback: JobFeedback = delivered > 0 ? 'success' : temporary > 0 ? 'failure' : 'neutral';
  return { changes, feedback };
}

/**
 * What time alone does to an entry: a job that gave no result within the job timeout is taken as
 * lost (deferred, so it is tried again), and once the queue lifetime is over every destination without
 * a job out fails. Held entries keep waiting for the operator. Mutates `entry`; returns the changes
 * and the ids of the jobs given up on (their admission slots are free again).
 */
export function applyTime(entry: QueueEntry, now: number, policy: QueuePolicy): { changes: DestinationChange[]; lostJobs: string[] } {
  const changes: DestinationChange[] = [];
  const lostJobs = new Set<string>();
  for (const destination of pendingOf(entry)) {
    const timeoutMs = jobTimeoutOf(policy, destination);
    if (destination.job && now - destination.dispatchedAt >= timeoutMs) {
      lostJobs.add(destination.job);
      changes.push(defer(entry, destination, `451 4.4.0 no result from delivery-agent within ${Math.round(timeoutMs / 1000)} s`, now, policy));
    }
  }
  if (!entry.held && expired(entry, now, policy)) {
    for (const destination of pendingOf(entry)) {
      if (destination.job) continue; // its result decides
      destination.state = 'failed';
      destination.lastReply = `4.4.7 message expired in the queue${destination.lastReply ? `; last error: ${destination.lastReply}` : ''}`;
      changes.push({ recipient: destination.recipient, state: 'failed', reply: destination.lastReply, nextAttemptAt: 0 });
    }
  }
  return { changes, lostJobs: [...lostJobs] };
}

/** A condition a recipient's NOTIFY names (RFC 3461 §4.1). */
export type NotifyCondition = 'SUCCESS' | 'FAILURE' | 'DELAY';

/** Whether the sender wants a notice of `condition` for this destination: its NOTIFY, or our default (FAILURE and DELAY). */
export const notifies = (destination: Destination, condition: NotifyCondition): boolean =>
  destination.notify ? destination.notify.includes(condition) : condition !== 'SUCCESS';

/**
 * The success notice a delivered destination is owed (NOTIFY=SUCCESS): `delivered` into a mailbox here,
 * `relayed` to a next hop that did not take the DSN request; none when the next hop took it (it reports
 * from then on: RFC 3461 §5.2). A delivery without a known handoff (an older delivery-agent) counts as
 * the lane says: local, delivered; remote, relayed.
 */
export function successActionOf(destination: Destination): 'delivered' | 'relayed' | undefined {
  if (destination.handoff === 'relayed-with-dsn') return undefined;
  if (destination.handoff === 'mailbox') return 'delivered';
  if (destination.handoff === 'relayed-without-dsn') return 'relayed';
  return destination.local ? 'delivered' : 'relayed';
}

/** The notices owed now, each list one report; `marked`: the entry changed (flags set), even where no notice is owed. */
export interface Notices {
  failed: Destination[];
  delayed: Destination[];
  delivered: Destination[];
  relayed: Destination[];
  /** Recipients that failed without a notice, their NOTIFY having no FAILURE (NEVER, or SUCCESS/DELAY only). */
  unreported: string[];
  marked: boolean;
}

/**
 * The notices owed now, as each destination's NOTIFY asks: failures not yet reported, the one-time delay
 * warning, and success notices. Marks them taken in `entry` (a failure with NOTIFY=NEVER, say, is taken
 * with no notice), so none is owed twice.
 */
export function takeNotices(entry: QueueEntry, now: number, policy: QueuePolicy): Notices {
  let marked = false;
  const failed: Destination[] = [];
  const delivered: Destination[] = [];
  const relayed: Destination[] = [];
  const unreported: string[] = [];
  for (const destination of entry.destinations) {
    if (destination.reported) continue;
    if (destination.state === 'failed') {
      destination.reported = marked = true;
      if (notifies(destination, 'FAILURE')) failed.push(destination);
      else unreported.push(destination.recipient);
    } else if (destination.state === 'delivered' && notifies(destination, 'SUCCESS')) {
      const action = successActionOf(destination);
      destination.reported = marked = true;
      if (action === 'delivered') delivered.push(destination);
      else if (action === 'relayed') relayed.push(destination);
    }
  }
  let delayed: Destination[] = [];
  const pending = pendingOf(entry);
  if (!entry.delayWarned && policy.delayWarningMs > 0 && pending.length > 0 && now - entry.receivedAt >= policy.delayWarningMs) {
    entry.delayWarned = marked = true;
    delayed = pending.filter((d) => notifies(d, 'DELAY'));
  }
  return { failed: structuredClone(failed), delayed: structuredClone(delayed), delivered: structuredClone(delivered), relayed: structuredClone(relayed), unreported, marked };
}

/** True when no destination is left to deliver: the message can leave the queue. */
export const isFinished = (entry: QueueEntry): boolean => pendingOf(entry).length === 0;

/**
 * When the entry next needs attention without any outside event: the earliest next attempt, job
 * timeout, expiry or delay warning; undefined when nothing is waiting on time. Destinations already
 * due at `now` without a job are left out: they wait for admission, not for time.
 */
export function nextDueAt(entry: QueueEntry, policy: QueuePolicy, now = Number.NEGATIVE_INFINITY): number | undefined {
  const pending = pendingOf(entry);
  let due = Number.POSITIVE_INFINITY;
  let waiting = false;
  for (const destination of pending) {
    if (destination.job) due = Math.min(due, destination.dispatchedAt + jobTimeoutOf(policy, destination));
    else if (!entry.held) {
      waiting = true;
      if (destination.nextAttemptAt > now) due = Math.min(due, destination.nextAttemptAt);
    }
  }
  if (waiting) {
    due = Math.min(due, entry.receivedAt + policy.maxLifetimeMs);
    if (!entry.delayWarned && policy.delayWarningMs > 0) due = Math.min(due, entry.receivedAt + policy.delayWarningMs);
  }
  return Number.isFinite(due) ? due : undefined;
}
