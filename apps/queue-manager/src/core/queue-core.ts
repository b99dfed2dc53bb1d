// The effects room of the queue: it holds the entries (a mirror of the mail-queue bucket), the
// due-time index, admission control and the jobs in flight, and turns the pure decisions of
// decisions.ts into writes and publishes — compare-and-set first, publish after, so a crash between
// the two leaves a job recorded as in flight (published again on restart: the remote job stream drops
// the repeat, and a local repeat stores nothing twice) rather than one sent but not recorded.
//
// Every replica keeps the mirror (the admin API reads it); only the active one (the leader, see
// leadership.ts) takes events, keeps time and dispatches. Work on one entry is serialised by a lock
// per queue id.
//
// A message's first attempt runs from memory: its spool head is the durable record until something
// must be remembered (a deferral, a partial delivery, an operator's change), and only then is the entry
// written to the bucket. Most mail is delivered at once and never costs a bucket write. A successor
// finds such messages again by reading the spool's heads (activate) and sends them out afresh; delivery
// is idempotent (mailbox-store's delivery record; delivery-agent's ledger, which also defers a repeat
// while the predecessor's remote attempt still runs), so a job the predecessor had out does no harm.
import type { AcceptedMessage, DeliveryJob, DeliveryResult } from '@mail/contracts';
import { KeyedLock } from '@mail/platform';
import { buildNotice, redactedNotice, refusedForRequireTls, type Notice } from '../bounces.js';
import type { QueueEvents } from '../events.js';
import type { Admission } from './admission.js';
import { applyTime, isFinished, markDispatched, nextDueAt, readyGroups, settleResult, takeNotices, type DestinationChange, type Group, type QueuePolicy } from './decisions.js';
import { DueIndex } from './due-index.js';
import { domainOf, laneOf, newEntry, pendingOf, type Destination, type Lane, type QueueEntry } from './entry.js';
import type { QueuePort, StoredEntry } from './queue-port.js';
import { WaitingLines } from './waiting-lines.js';

export interface CoreOptions {
  policy: QueuePolicy;
  admission: Admission;
  events: QueueEvents;
  /** The name in DSNs (Reporting-MTA) and their From: MAILER-DAEMON@name. */
  reportingMta: string;
  now?: () => number;
  /** Entries handled at once when many fall due together. */
  dueBatch?: number;
}

/** The revision of an entry that lives in memory only (bucket revisions start at 1). */
export const UNSTORED = 0;
/** After a failed write of an entry, it is looked at again this much later. */
const WRITE_RETRY_MS = 2000;
/**
 * How many finished messages are remembered (queue id and spool parts, ~150 bytes each): minutes of mail
 * at a busy site's rate, hours at a quiet one's. A successor starts with none.
 */
const FINISHED_REMEMBERED = 50_000;

interface JobInFlight {
  queueId: string;
  lane: Lane;
  domain: string;
}

export class QueueCore {
  private readonly entries = new Map<string, StoredEntry>();
  private readonly due = new DueIndex();
  private readonly jobs = new Map<string, JobInFlight>();
  /** Due entries without admission yet, one line per destination; a reopened rate window lets the next go. */
  private readonly waiting = new WaitingLines((lane, domain) => void this.pumpDestination(lane, domain));
  /** Jobs recorded in an entry but not yet out (a remote publish failed): sent again by the clock. */
  private readonly unpublished = new Map<string, { lane: Lane; job: DeliveryJob }>();
  /** Jobs whose publish is under way: another flush leaves them alone (no second publish of the same job). */
  private readonly publishing = new Set<string>();
  private readonly locks = new KeyedLock();
  /** Entries this process removed, with their last revision, until the removal comes back through the watch. */
  private readonly removed = new Map<string, number>();
  /**
   * Messages that left the queue, oldest first, with their spool parts. The spool's delete is not waited
   * for (QueuePort.deleteMessage), so a message can outlive its course there; found again (its head
   * redelivered, or read by reconcileSpool), it is deleted again instead of being planned a second time,
   * which would deliver it twice.
   */
  private readonly finished = new Map<string, number[]>();
  /** Domains seen with local recipients, so that notices to them take the local lane too. */
  private readonly localDomains = new Set<string>();
  private active = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private ticking = false;
  private readonly now: () => number;
  private readonly policy: QueuePolicy;
  private readonly admission: Admission;
  private readonly events: QueueEvents;

  constructor(
    private readonly port: QueuePort,
    private readonly options: CoreOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.policy = options.policy;
    this.admission = options.admission;
    this.events = options.events;
  }

  // ---- The mirror: loaded at start, then kept by own writes and the bucket's watch.

  /** Entries as read from the bucket at start-up (every replica). */
  load(stored: Iterable<StoredEntry>): void {
    for (const s of stored) {
      const known = this.entries.get(s.entry.queueId);
      if (!known || known.revision < s.revision) this.entries.set(s.entry.queueId, s);
    }
  }

  /**
   * A change seen in the bucket (another replica's write, an operator's, or the echo of our own):
   * `read` decodes it, and is not called for an echo of what this process wrote itself.
   */
  async onStoredChange(queueId: string, revision: number, read: () => StoredEntry | undefined): Promise<void> {
    if ((this.entries.get(queueId)?.revision ?? this.removed.get(queueId) ?? -1) >= revision) return; // ours, already known
    await this.locked(queueId, async () => {
      const current = this.entries.get(queueId);
      if (current && current.revision >= revision) return;
      const stored = read();
      if (this.removed.has(queueId)) {
        // We removed it: a late echo of an earlier write must not bring it back.
        if (!stored) this.removed.delete(queueId);
        if (!stored || stored.revision <= this.removed.get(queueId)!) return;
        this.removed.delete(queueId);
      }
      if (!stored && !current) return;
      if (stored) this.entries.set(queueId, stored);
      else this.entries.delete(queueId);
      if (!this.active) return;
      this.reconcileJobs(queueId, stored?.entry);
      if (stored) await this.advance(queueId);
      else this.due.set(queueId, undefined);
    });
  }

  get size(): number {
    return this.entries.size;
  }

  list(): QueueEntry[] {
    return [...this.entries.values()].map((s) => s.entry).sort((a, b) => a.receivedAt - b.receivedAt);
  }

  /** The accepted message of a queued entry (for mailctl queue cat); null when the spool no longer has it. */
  readMessage(queueId: string): Promise<Uint8Array | null> {
    return this.port.readMessage(queueId);
  }

  show(queueId: string): QueueEntry | undefined {
    return this.entries.get(queueId)?.entry;
  }

  oldestReceivedAt(): number | undefined {
    let oldest: number | undefined;
    for (const { entry } of this.entries.values()) oldest = Math.min(oldest ?? entry.receivedAt, entry.receivedAt);
    return oldest;
  }

  jobsInFlight(lane: Lane): number {
    return this.admission.inFlight(lane);
  }

  // ---- Activation: this replica takes the queue over (or gives it up).

  /** Takes the queue over: counts the jobs already out, sends again those that may not have left, and starts the clock. */
  async activate(): Promise<void> {
    if (this.active) return;
    this.active = true;
    for (const { entry } of this.entries.values()) {
      for (const d of entry.destinations) if (d.local) this.localDomains.add(domainOf(d.recipient));
      this.reconcileJobs(entry.queueId, entry);
      // A predecessor may have recorded a job and died before publishing it: publish again (when it
      // did get out, the remote stream drops the repeat; a local one is delivered idempotently).
      for (const job of this.jobsOf(entry)) this.unpublished.set(job.job.jobId, job);
    }
    await this.flushUnpublished();
    for (const queueId of [...this.entries.keys()]) await this.locked(queueId, () => this.advance(queueId));
    await this.recoverFirstAttempts();
    this.armTimer();
  }

  /**
   * Messages in the spool without an entry in the bucket were in their first attempt under a
   * predecessor (or not yet read at all): they start again. Their job ids are numbered past any the
   * predecessor can have used, so the new jobs are not dropped by the job stream as repeats of jobs
   * whose results may already have been consumed.
   */
  private async recoverFirstAttempts(): Promise<void> {
    for await (const { envelope, seq } of this.port.spoolHeads()) {
      if (this.entries.has(envelope.queueId)) continue;
      const entry = this.entryOf(envelope, seq);
      entry.dispatches = entry.destinations.length;
      await this.createEntry(entry, false);
    }
  }

  /**
   * Plans every spooled message that has no entry here: the safety net behind the takeover's read of the
   * heads (right after nats-server restarts, a read can come back short, and a message whose first
   * attempt ran in the predecessor's memory would then wait in the spool for good) and behind an entry
   * dropped while the spool answered that its bytes were gone. Each candidate's head is looked up once
   * more first, so a message delivered and removed during the read is left alone. Returns how many.
   */
  async reconcileSpool(): Promise<number> {
    if (!this.active) return 0;
    let planned = 0;
    for await (const { envelope, seq } of this.port.spoolHeads()) {
      if (!this.active) break;
      if (this.entries.has(envelope.queueId)) continue;
      const entry = this.entryOf(envelope, seq);
      entry.dispatches = entry.destinations.length; // job ids past any a predecessor used, as at takeover
      if (await this.createEntry(entry, true)) {
        planned++;
        this.events.emit({ event: 'message-recovered', queueId: envelope.queueId });
      }
    }
    return planned;
  }

  /** Spooled messages with no entry here: accepted mail not (yet) known to this replica, for the operator's view. */
  async countUnknownSpooled(): Promise<number> {
    let count = 0;
    for await (const { envelope } of this.port.spoolHeads()) if (!this.entries.has(envelope.queueId)) count++;
    return count;
  }

  private entryOf(message: AcceptedMessage, headSeq: number | undefined): QueueEntry {
    const local = new Set(message.localRecipients);
    for (const recipient of local) this.localDomains.add(domainOf(recipient));
    return newEntry({ ...message, localRecipients: local, bounceOf: message.bounceOf, spoolSeqs: headSeq === undefined ? [] : [...message.chunkSeqs, headSeq] });
  }

  deactivate(): void {
    this.active = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.waiting.clear();
  }

  // ---- Events.

  /** An accepted message becomes an entry, and its recipients go out as far as admission allows. */
  async onAccepted(message: AcceptedMessage, redelivered: boolean, headSeq?: number): Promise<void> {
    const created = await this.createEntry(
      this.entryOf(message, headSeq),
      // A redelivered event may be late: its message may have left the queue already (its bytes are then gone).
      redelivered,
    );
    this.events.emit({ event: 'message-queued', queueId: message.queueId, destinations: message.recipients.length, created });
  }

  /** A delivery result settles destinations, frees the job's admission slot, and lets the next job of its destination go. */
  async onResult(result: DeliveryResult): Promise<void> {
    const job = this.jobs.get(result.jobId);
    await this.locked(result.queueId, async () => {
      for (;;) {
        const stored = await this.current(result.queueId);
        if (!stored) {
          this.releaseJob(result.jobId, 'neutral');
          return; // the entry is gone: a repeated result
        }
        const entry = structuredClone(stored.entry);
        const now = this.now();
        if (result.spoolMissing) {
          if (await this.port.messageExists(entry.queueId)) {
            // Read while the spool was failing over, say: try again later.
            const { changes } = settleResult(entry, { ...result, results: this.jobRecipients(entry, result.jobId).map((recipient) => ({ recipient, outcome: 'temporary', reply: '451 4.3.0 message not readable from the spool' })) }, now, this.policy);
            if (!(await this.write(entry, stored.revision, changes))) continue;
          } else {
            await this.removeOrphan(entry);
          }
          this.releaseJob(result.jobId, 'neutral');
          break;
        }
        const { changes, feedback } = settleResult(entry, result, now, this.policy);
        // Released before the write: removing a finished entry frees its jobs too, but without feedback.
        this.releaseJob(result.jobId, feedback);
        if (!(await this.write(entry, stored.revision, changes))) continue;
        break;
      }
    });
    if (job) await this.pumpDestination(job.lane, job.domain);
  }

  // ---- Time.

  /** Handles every entry due now; returns how many. Called by the clock, and by tests with a fake clock. */
  async runDue(): Promise<number> {
    const batch = this.options.dueBatch ?? 64;
    let handled = 0;
    for (;;) {
      const due = this.due.takeDue(this.now(), batch);
      if (due.length === 0) break;
      await Promise.all(due.map((queueId) => this.locked(queueId, () => this.advance(queueId))));
      handled += due.length;
    }
    await this.flushUnpublished();
    return handled;
  }

  /** Lets every line of waiting entries try again now (a rate window may have reopened). */
  async pumpAll(): Promise<void> {
    this.waiting.openAll();
    for (const { lane, domain } of this.waiting.destinations()) await this.pumpLine(lane, domain);
  }

  /** When the clock fires next (for tests and metrics). */
  nextDue(): number | undefined {
    return this.due.next();
  }

  private armTimer(): void {
    if (!this.active) return;
    const next = this.unpublished.size > 0 ? this.now() + 1000 : this.due.next();
    if (next === undefined) return;
    if (this.timer && next >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    // Timers are capped at 2^31-1 ms; a far due time simply re-arms.
    const delay = Math.min(Math.max(0, next - this.now()), 2 ** 31 - 1);
    this.timer = setTimeout(() => void this.tick(), delay);
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (this.ticking || !this.active) return;
    this.ticking = true;
    try {
      await this.runDue();
    } catch (err) {
      this.events.emit({ event: 'queue-error', queueId: '', error: err instanceof Error ? err.message : String(err) });
    } finally {
      this.ticking = false;
      this.armTimer();
    }
  }

  // ---- Administration (mailctl queue ...): any replica; the leader sees the change in the bucket.

  /** Attempt now: clears the wait of every pending destination. Returns the entries changed. */
  async retry(queueIds: string[]): Promise<number> {
    let affected = 0;
    for (const queueId of queueIds) {
      const changed = await this.change(queueId, (entry) => {
        for (const d of pendingOf(entry)) if (!d.job) d.nextAttemptAt = 0;
      });
      if (!changed) continue;
      affected++;
      this.events.emit({ event: 'postmaster-action', queueId, action: 'retry' });
    }
    return affected;
  }

  async hold(queueId: string, held: boolean): Promise<number> {
    const changed = await this.change(queueId, (entry) => {
      entry.held = held;
    });
    if (!changed) return 0;
    this.events.emit({ event: 'postmaster-action', queueId, action: held ? 'hold' : 'release' });
    return 1;
  }

  async delete(queueId: string, bounce: boolean): Promise<number> {
    let affected = 0;
    await this.locked(queueId, async () => {
      const stored = await this.current(queueId);
      if (!stored) return;
      const entry = structuredClone(stored.entry);
      if (bounce) {
        for (const d of pendingOf(entry)) {
          d.state = 'failed';
          d.lastReply = `5.0.0 deleted from the queue by the postmaster${d.lastReply ? `; last error: ${d.lastReply}` : ''}`;
        }
        await this.sendNotices(entry, this.now());
      }
      await this.removeEntry(entry);
      affected = 1;
    });
    if (affected) this.events.emit({ event: 'postmaster-action', queueId, action: bounce ? 'delete-with-bounce' : 'delete' });
    return affected;
  }

  // ---- The steps.

  /** Applies an operator's change to an entry with compare-and-set; false when there is no entry. */
  private async change(queueId: string, edit: (entry: QueueEntry) => void): Promise<boolean> {
    let found = false;
    await this.locked(queueId, async () => {
      for (;;) {
        const stored = await this.current(queueId);
        if (!stored) return;
        found = true;
        const entry = structuredClone(stored.entry);
        edit(entry);
        if (await this.write(entry, stored.revision, [])) return;
      }
    });
    return found;
  }

  /** A new entry (an accepted message or a notice of ours) and its first jobs; only the active replica takes messages in. */
  private async createEntry(entry: QueueEntry, checkSpool: boolean): Promise<boolean> {
    if (!this.active) throw new Error('not the active queue-manager: accepted messages are left to the active one');
    let created = false;
    await this.locked(entry.queueId, async () => {
      const existing = this.entries.get(entry.queueId);
      if (!existing) {
        const finishedParts = this.finished.get(entry.queueId);
        if (finishedParts) {
          await this.port.deleteMessage(entry.queueId, finishedParts);
          this.events.emit({ event: 'finished-message-deleted-again', queueId: entry.queueId });
          return;
        }
        if (checkSpool && !(await this.port.messageExists(entry.queueId))) {
          this.events.emit({ event: 'late-event-ignored', queueId: entry.queueId });
          return;
        }
        // The first attempt, from memory (see the top of this file).
        const admitted = this.admit(entry);
        this.entries.set(entry.queueId, { entry, revision: UNSTORED });
        await this.afterWrite(entry, admitted);
        created = true;
        return;
      }
      // A repeated event: make sure the jobs recorded for it did get out.
      const again = this.jobsOf(existing.entry);
      for (const job of again) this.unpublished.set(job.job.jobId, job);
      await this.flushUnpublished(again.map((job) => job.job.jobId));
    });
    return created;
  }

  /** What time (and admission) does to an entry now: expiry, lost jobs, notices, jobs that may go. */
  private async advance(queueId: string): Promise<void> {
    for (;;) {
      const stored = this.entries.get(queueId);
      if (!stored) {
        this.due.set(queueId, undefined);
        return;
      }
      const entry = structuredClone(stored.entry);
      const now = this.now();
      const { changes, lostJobs } = applyTime(entry, now, this.policy);
      if (!(await this.write(entry, stored.revision, changes, changes.length === 0 && lostJobs.length === 0))) continue;
      for (const jobId of lostJobs) {
        const job = this.jobs.get(jobId);
        this.events.emit({ event: 'job-lost', queueId, jobId, timeoutMs: job?.lane === 'local' ? this.policy.localJobTimeoutMs : this.policy.jobTimeoutMs });
        this.releaseJob(jobId, 'failure');
        if (job) void this.pumpDestination(job.lane, job.domain);
      }
      return;
    }
  }

  /**
   * Settles an entry after a change: sends the notices owed, removes it when nothing is left, or
   * dispatches what is ready and writes it. `skipIfUnchanged` avoids a write when nothing changed and
   * nothing can go. False when the entry changed meanwhile (the caller reads it again).
   */
  private async write(entry: QueueEntry, revision: number, changes: DestinationChange[], skipIfUnchanged = false): Promise<boolean> {
    const now = this.now();
    const noticed = await this.sendNotices(entry, now);
    if (isFinished(entry)) {
      await this.removeEntry(entry, changes);
      return true;
    }
    const admitted = this.active ? this.admit(entry) : [];
    if (skipIfUnchanged && !noticed && admitted.length === 0) {
      this.index(entry);
      return true;
    }
    // Still its first attempt, only let through by admission after waiting in line (the usual case
    // under load: the local lane is full more often than not), and to the local lane only: nothing to
    // remember yet, so it stays in memory like a first attempt that went at once. Local delivery is
    // idempotent, so a successor that sends it again from the spool does no harm; a remote job that
    // waited is written, so that a successor knows it is out and does not send it to the remote
    // server a second time.
    if (revision === UNSTORED && skipIfUnchanged && !noticed && admitted.every((job) => job.lane === 'local')) {
      this.entries.set(entry.queueId, { entry, revision: UNSTORED });
      await this.afterWrite(entry, admitted);
      return true;
    }
    // Something to remember: an entry in memory only is written for the first time.
    let next: number | undefined;
    try {
      next = revision === UNSTORED ? await this.port.create(entry) : await this.port.replace(entry, revision);
    } catch (err) {
      // Not written (the broker is away): the slots taken for it are given back, or they would count
      // against the destination for good, and the entry is looked at again soon.
      for (const job of admitted) this.admission.release(job.lane, job.domain, 'neutral');
      this.due.set(entry.queueId, now + WRITE_RETRY_MS);
      this.armTimer();
      throw err;
    }
    if (next === undefined) {
      for (const job of admitted) this.admission.release(job.lane, job.domain, 'neutral');
      await this.refresh(entry.queueId); // changed by someone else: the caller decides again on what is there now
      return false;
    }
    this.entries.set(entry.queueId, { entry, revision: next });
    this.emitChanges(entry.queueId, changes);
    await this.afterWrite(entry, admitted);
    return true;
  }

  /** Takes admission slots for the entry's ready groups and marks them dispatched; the rest wait in line. */
  private admit(entry: QueueEntry): (Group & { jobId: string })[] {
    const now = this.now();
    const admitted: (Group & { jobId: string })[] = [];
    for (const group of readyGroups(entry, now)) {
      const verdict = this.admission.tryAdmit(group.lane, group.domain);
      if (verdict.ok) {
        admitted.push({ ...group, jobId: markDispatched(entry, group, now) });
        this.waiting.leave(group.lane, group.domain, entry.queueId);
      } else this.waiting.join(group.lane, group.domain, entry.queueId, this.active ? verdict.waitMs : undefined);
    }
    return admitted;
  }

  /** After a write: the admitted jobs go out and the entry's next due time is set. */
  private async afterWrite(entry: QueueEntry, admitted: (Group & { jobId: string })[]): Promise<void> {
    for (const group of admitted) {
      this.jobs.set(group.jobId, { queueId: entry.queueId, lane: group.lane, domain: group.domain });
      this.unpublished.set(group.jobId, { lane: group.lane, job: this.jobFor(entry, group.jobId, group.domain) });
    }
    if (admitted.length > 0) await this.flushUnpublished(admitted.map((group) => group.jobId));
    this.index(entry);
  }

  private index(entry: QueueEntry): void {
    if (!this.active) return;
    this.due.set(entry.queueId, nextDueAt(entry, this.policy, this.now()));
    this.armTimer();
  }

  /**
   * Publishes jobs recorded but not yet sent: the ones given (at once, side by side), or all of them
   * (the clock's retry: one after the other, stopping at the first failure, so a broker outage costs
   * one timeout per tick). Those that fail stay for the next tick.
   */
  private async flushUnpublished(jobIds?: string[]): Promise<void> {
    if (!this.active) return;
    const publish = async (jobId: string): Promise<boolean> => {
      const pending = this.unpublished.get(jobId);
      if (!pending || this.publishing.has(jobId)) return true;
      this.publishing.add(jobId);
      try {
        await this.port.publishJob(pending.lane, pending.job);
        if (this.unpublished.get(jobId) === pending) this.unpublished.delete(jobId);
        return true;
      } catch (err) {
        this.events.emit({ event: 'queue-error', queueId: pending.job.queueId, error: `job ${jobId} not published yet: ${err instanceof Error ? err.message : String(err)}` });
        return false;
      } finally {
        this.publishing.delete(jobId);
      }
    };
    if (jobIds) await Promise.all(jobIds.map(publish));
    else for (const jobId of [...this.unpublished.keys()]) if (!(await publish(jobId))) break;
    if (this.unpublished.size > 0) this.armTimer();
  }

  private jobFor(entry: QueueEntry, jobId: string, domain: string): DeliveryJob {
    // The DSN request goes with the job, for a next hop that offers DSN (RFC 3461 §5.2); none is sent when none was given.
    const recipientDsn = entry.destinations
      .filter((d) => d.state === 'pending' && d.job === jobId && (d.notify || d.orcpt !== undefined))
      .map((d) => ({ recipient: d.recipient, ...(d.notify ? { notify: d.notify } : {}), ...(d.orcpt !== undefined ? { orcpt: d.orcpt } : {}) }));
    return {
      queueId: entry.queueId,
      jobId,
      sender: entry.sender,
      recipients: this.jobRecipients(entry, jobId),
      smtputf8: entry.smtputf8,
      domain,
      ...(entry.ret ? { ret: entry.ret } : {}),
      ...(entry.envid !== undefined ? { envid: entry.envid } : {}),
      ...(recipientDsn.length > 0 ? { recipientDsn } : {}),
    };
  }

  private jobRecipients(entry: QueueEntry, jobId: string): string[] {
    return entry.destinations.filter((d) => d.state === 'pending' && d.job === jobId).map((d) => d.recipient);
  }

  /** The jobs an entry records as out. */
  private jobsOf(entry: QueueEntry): { lane: Lane; job: DeliveryJob }[] {
    const byJob = new Map<string, Destination>();
    for (const d of pendingOf(entry)) if (d.job && !byJob.has(d.job)) byJob.set(d.job, d);
    return [...byJob].map(([jobId, d]) => ({ lane: laneOf(d), job: this.jobFor(entry, jobId, domainOf(d.recipient)) }));
  }

  /** Makes the jobs map (and admission) agree with what an entry records as in flight. */
  private reconcileJobs(queueId: string, entry: QueueEntry | undefined): void {
    const recorded = new Map<string, Destination>();
    for (const d of entry ? pendingOf(entry) : []) if (d.job) recorded.set(d.job, d);
    for (const [jobId, job] of this.jobs) {
      if (job.queueId !== queueId || recorded.has(jobId)) continue;
      this.releaseJob(jobId, 'neutral');
      // A slot came free outside a result (the entry was removed or changed elsewhere): the next in line may go.
      if (this.active) void this.pumpDestination(job.lane, job.domain).catch(() => undefined);
    }
    for (const [jobId, d] of recorded) {
      if (this.jobs.has(jobId)) continue;
      const lane = laneOf(d);
      const domain = domainOf(d.recipient);
      this.jobs.set(jobId, { queueId, lane, domain });
      this.admission.restore(lane, domain);
    }
  }

  private releaseJob(jobId: string, feedback: 'success' | 'failure' | 'neutral'): void {
    const job = this.jobs.get(jobId);
    if (!job) return;
    this.jobs.delete(jobId);
    this.unpublished.delete(jobId);
    this.admission.release(job.lane, job.domain, feedback);
  }

  // ---- Waiting for admission.

  /**
   * A slot of the destination (or its lane) may be free: the entries waiting in its line go, in
   * order, while admission allows; then the other lines of the lane, since a lane-wide limit may have
   * held them back.
   */
  private async pumpDestination(lane: Lane, domain: string): Promise<void> {
    if (!this.active) return;
    await this.pumpLine(lane, domain);
    for (const other of this.waiting.destinations(lane)) {
      if (other.domain === domain) continue;
      if (this.admission.inFlight(lane) >= this.admission.laneLimit(lane)) break;
      await this.pumpLine(other.lane, other.domain);
    }
  }

  private async pumpLine(lane: Lane, domain: string): Promise<void> {
    while (this.admission.canAdmit(lane, domain)) {
      const queueId = this.waiting.takeFirst(lane, domain);
      if (queueId === undefined) return; // empty, or the rate window is closed
      const before = this.admission.inFlight(lane);
      await this.locked(queueId, () => this.advance(queueId));
      // Not admitted (it joined the line again): the destination is full for now.
      if (this.admission.inFlight(lane) <= before && this.waiting.has(lane, domain, queueId)) return;
    }
  }

  // ---- Notices and removal.

  /**
   * The notices owed now, as each recipient's NOTIFY asks (decisions.ts): failure notices for newly failed
   * destinations, the one-time delay warning, success notices; one report per kind, for every recipient
   * it concerns. Marks them in `entry`; true if the entry changed.
   */
  private async sendNotices(entry: QueueEntry, now: number): Promise<boolean> {
    const { failed, delayed, delivered, relayed, unreported, marked } = takeNotices(entry, now, this.policy);
    if (!marked) return false;
    if (unreported.length > 0) this.events.emit({ event: 'notice-suppressed', queueId: entry.queueId, recipients: unreported, reason: 'notify' });
    if (entry.sender === '') {
      // RFC 8689 §5: our notice about a REQUIRETLS message, refused on its way back for want of
      // REQUIRETLS, goes again without it, redacted, rather than being lost.
      const refused = entry.requireTls && entry.bounceOf !== '' ? failed.filter((d) => refusedForRequireTls(d.lastReply)) : [];
      if (refused.length > 0) {
        const sent = await this.port.readMessage(entry.queueId);
        for (const destination of refused) {
          const notice = sent && redactedNotice(entry, destination.recipient, sent, new Date(now));
          if (!notice) continue;
          await this.queueNotice(notice, entry.bounceOf, now);
          this.events.emit({ event: 'notice-redacted', queueId: notice.queueId, noticeOf: entry.queueId, bounceOf: entry.bounceOf, recipient: notice.recipient, reply: destination.lastReply });
        }
      }
      // RFC 5321 §4.5.5: never a notice about a message from <> (a bounce must not bounce).
      const recipients = [...failed, ...delayed].filter((d) => !refused.includes(d)).map((d) => d.recipient);
      if (recipients.length > 0) this.events.emit({ event: 'notice-suppressed', queueId: entry.queueId, recipients, reason: 'null-sender' });
      return true;
    }
    const original = (await this.port.readMessage(entry.queueId)) ?? new Uint8Array();
    for (const [destinations, action] of [
      [failed, 'failed'],
      [delayed, 'delayed'],
      [delivered, 'delivered'],
      [relayed, 'relayed'],
    ] as const) {
      const notice = buildNotice({
        entry,
        destinations,
        action,
        reportingMta: this.options.reportingMta,
        originalMessage: original,
        willRetryUntil: new Date(entry.receivedAt + this.policy.maxLifetimeMs),
        now: new Date(now),
      });
      if (!notice) continue;
      await this.queueNotice(notice, entry.queueId, now);
      this.events.emit({ event: 'notice-queued', queueId: notice.queueId, bounceOf: entry.queueId, recipient: notice.recipient, action, about: destinations.map((d) => d.recipient), requireTls: notice.requireTls });
    }
    return true;
  }

  /** Queued like any message: a deterministic id, so a repeat after a crash is dropped by the spool. */
  private async queueNotice(notice: Notice, bounceOf: string, now: number): Promise<void> {
    const local = this.localDomains.has(domainOf(notice.recipient)) ? [notice.recipient] : [];
    await this.port.enqueueMessage(
      // Submitted by our MAILER-DAEMON (its From:): delivery-agent signs it with DKIM as that domain when it has a key.
      // REQUIRETLS in its envelope: delivery-agent holds it to the rules of the message it reports on.
      { queueId: notice.queueId, sender: '', recipients: [notice.recipient], localRecipients: local, size: notice.message.length, receivedAt: now, smtputf8: false, eightBitMime: false, binaryMime: false, clientAddress: '', submittedBy: `MAILER-DAEMON@${this.options.reportingMta}`, chunks: 0, chunkSeqs: [], bounceOf, ...(notice.requireTls ? { requireTls: true } : {}) },
      notice.message,
    );
  }

  /** The message leaves the queue: spool first, entry last (a crash in between finds the entry and finishes). */
  private async removeEntry(entry: QueueEntry, changes: DestinationChange[] = []): Promise<void> {
    this.rememberFinished(entry);
    await this.port.deleteMessage(entry.queueId, entry.spoolSeqs).catch(() => undefined);
    const revision = this.entries.get(entry.queueId)?.revision ?? UNSTORED;
    if (revision !== UNSTORED) {
      await this.port.remove(entry.queueId);
      this.removed.set(entry.queueId, revision);
    }
    this.entries.delete(entry.queueId);
    this.due.set(entry.queueId, undefined);
    this.reconcileJobs(entry.queueId, undefined);
    this.waiting.leaveAll(entry.queueId);
    this.emitChanges(entry.queueId, changes);
    this.events.emit({ event: 'message-removed', queueId: entry.queueId });
  }

  private rememberFinished(entry: QueueEntry): void {
    this.finished.delete(entry.queueId); // re-inserted as the newest
    this.finished.set(entry.queueId, entry.spoolSeqs);
    if (this.finished.size > FINISHED_REMEMBERED) this.finished.delete(this.finished.keys().next().value!);
  }

  /** An entry whose message bytes are gone: it can never be delivered. Said loudly, then removed. */
  private async removeOrphan(entry: QueueEntry): Promise<void> {
    this.events.emit({ event: 'entry-orphaned', queueId: entry.queueId, recipients: pendingOf(entry).map((d) => d.recipient) });
    await this.removeEntry(entry);
  }

  private emitChanges(queueId: string, changes: DestinationChange[]): void {
    for (const change of changes) {
      const base = { queueId, recipient: change.recipient, reply: change.reply };
      if (change.state === 'delivered') this.events.emit({ event: 'destination-delivered', ...base });
      else if (change.state === 'failed') this.events.emit({ event: 'destination-failed', ...base });
      else this.events.emit({ event: 'destination-deferred', ...base, nextAttemptAt: change.nextAttemptAt });
    }
  }

  // ---- Plumbing.

  /** The entry as this process knows it; read from the bucket when the mirror has none (a passive replica's start). */
  private async current(queueId: string): Promise<StoredEntry | undefined> {
    return this.entries.get(queueId) ?? (this.active ? undefined : await this.refresh(queueId));
  }

  private async refresh(queueId: string): Promise<StoredEntry | undefined> {
    const stored = await this.port.get(queueId);
    if (stored) this.entries.set(queueId, stored);
    else this.entries.delete(queueId);
    if (this.active) this.reconcileJobs(queueId, stored?.entry);
    return stored;
  }

  private locked(queueId: string, work: () => Promise<void>): Promise<void> {
    return this.locks.run(queueId, work);
  }
}
