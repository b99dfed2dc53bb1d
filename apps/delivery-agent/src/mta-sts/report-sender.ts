// Sends the TLS-RPT reports of finished days (RFC 8460 §5.3) to the addresses the policy domains publish.
// To `mailto:` ones through our own queue: each report is spooled like accepted mail (queue-manager plans,
// retries and bounces it; delivery-agent signs it with DKIM when the From domain has a key). To `https:`
// ones by HTTP POST (report-post.ts): each post owed is a record in the tls-reports bucket until the
// receiver takes it or 24 hours of retries have passed (§5.5), so a failed post is tried again by
// whichever replica is up, never lost without a word, never tried for ever. One replica sends each
// report: the first to create its "sent" mark; one replica makes each attempt of a post: the one whose
// compare-and-set of the post's record succeeds.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { buildMessage } from '@mail/mime';
import type { AcceptedMessage } from '@mail/contracts';
import { nextPostAttemptAt, POST_RETRY_WINDOW_MS, postTlsReport, type ReportPostOptions } from './report-post.js';
import { tlsReport, type DailyTlsData } from './tls-report.js';

/** A report still owed to one `https:` rua, as the tls-reports bucket keeps it. */
export interface PendingPost {
  day: string;
  policyDomain: string;
  url: string;
  /** When it was first due (ms): retries stop 24 hours later. */
  since: number;
  /** Attempts begun. */
  attempts: number;
  /** When the next attempt is due (ms). */
  nextAttemptAt: number;
}

export interface ReportMarks {
  /** Days kept, newest first. */
  list(): Promise<DailyTlsData[]>;
  /** True for the one caller that may send this report. */
  claim(day: string, domain: string): Promise<boolean>;
  /** Gives a claim back (the report could not be queued). */
  release(day: string, domain: string): Promise<void>;
  /** Records a post owed; one already recorded stays as it is. */
  owePost(post: PendingPost): Promise<void>;
  /** The posts owed, each with the revision its record has. */
  posts(): Promise<{ post: PendingPost; revision: number }[]>;
  /** Writes `post` over the record of that revision: true for the one caller whose write it was. */
  takePost(post: PendingPost, revision: number): Promise<boolean>;
  /** Forgets a post: taken by its receiver, or given up. */
  dropPost(post: PendingPost): Promise<void>;
}

/** What became of one attempt to post a report. */
export type ReportPostOutcome =
  | { outcome: 'posted'; post: PendingPost }
  | { outcome: 'failed'; post: PendingPost; reason: string }
  | { outcome: 'abandoned'; post: PendingPost; reason: string };

export interface ReportSenderOptions {
  /** organization-name and TLS-Report-Submitter: our host name. */
  organization: string;
  /** The From address of the reports (its domain's DKIM key signs them, when there is one). */
  from: string;
  /** How `https:` reports are posted (resolver, extra CAs, deadline). */
  https: ReportPostOptions;
  /** The wait before the first retry of a failed post; it doubles with each further one. */
  retryAfterMs: number;
  /** Told of every post attempt's end. */
  onPost?: (outcome: ReportPostOutcome) => void;
}

const isMailto = (uri: string) => uri.toLowerCase().startsWith('mailto:');
const isHttps = (uri: string) => uri.toLowerCase().startsWith('https:');

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** The same report to the same address always gets the same queue id, so a repeated spool write is dropped as a duplicate. */
export function reportQueueId(day: string, domain: string, rua: string): string {
  let time = '';
  for (let t = Date.parse(`${day}T23:59:59Z`), i = 0; i < 10; i++, t = Math.floor(t / 32)) time = ALPHABET[t % 32] + time;
  const digest = createHash('sha256').update(`${day}\n${domain}\n${rua}`).digest();
  return time + [...digest.subarray(0, 10)].map((b) => ALPHABET[b % 32]).join('');
}

/** The report mail of RFC 8460 §5.3: multipart/report; report-type="tlsrpt", the JSON gzipped as application/tlsrpt+gzip. */
export function reportMessage(data: DailyTlsData, to: string, options: Pick<ReportSenderOptions, 'organization' | 'from'>, now = new Date()): Uint8Array {
  const report = tlsReport(data, options.organization, options.from);
  const reportId = String(report['report-id']);
  const begin = `${data.day}T00:00:00Z`;
  const end = `${data.day}T23:59:59Z`;
  return buildMessage({
    from: options.from,
    to: [to],
    subject: `Report Domain: ${data.policyDomain} Submitter: ${options.organization} Report-ID: <${reportId}>`,
    date: now,
    headers: [
      ['TLS-Report-Domain', data.policyDomain],
      ['TLS-Report-Submitter', options.organization],
    ],
    body: {
      contentType: 'multipart/report',
      params: { 'report-type': 'tlsrpt' },
      children: [
        {
          contentType: 'text/plain',
          content: `This is the TLS report (RFC 8460) of ${options.organization} for mail to ${data.policyDomain} on ${data.day}: ${data.successful} successful and ${data.failed} failed TLS sessions.\r\n`,
        },
        {
          contentType: 'application/tlsrpt+gzip',
          content: gzipSync(JSON.stringify(report)),
          disposition: 'attachment',
          filename: `${options.organization}!${data.policyDomain}!${begin}!${end}.json.gz`,
          transferEncoding: 'base64',
        },
      ],
    },
  });
}

export class TlsReportSender {
  private running: Promise<{ queued: number; posted: number }> | undefined;

  constructor(
    private readonly marks: ReportMarks,
    private readonly spool: { put(envelope: AcceptedMessage, message: Uint8Array): Promise<unknown> },
    private readonly options: ReportSenderOptions,
  ) {}

  /**
   * Queues the mail reports of every day before `now`'s that no replica has sent yet, records the posts
   * they owe, and makes the post attempts that are due; resolves with how many were queued and posted.
   * A call while one is running joins it.
   */
  sendDue(now = new Date()): Promise<{ queued: number; posted: number }> {
    this.running ??= this.run(now).finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(now: Date): Promise<{ queued: number; posted: number }> {
    const today = now.toISOString().slice(0, 10);
    const days = await this.marks.list();
    let queued = 0;
    for (const data of days) {
      const recipients = data.rua.filter(isMailto).map((uri) => decodeURIComponent(uri.slice('mailto:'.length).split('?')[0]!));
      const urls = data.rua.filter(isHttps);
      if (data.day >= today || recipients.length + urls.length === 0) continue;
      if (!(await this.marks.claim(data.day, data.policyDomain))) continue;
      try {
        for (const url of urls) await this.marks.owePost({ day: data.day, policyDomain: data.policyDomain, url, since: now.getTime(), attempts: 0, nextAttemptAt: now.getTime() });
        for (const to of recipients) {
          const message = reportMessage(data, to, this.options, now);
          const envelope: AcceptedMessage = {
            queueId: reportQueueId(data.day, data.policyDomain, to),
            sender: this.options.from,
            recipients: [to],
            localRecipients: [],
            size: message.length,
            receivedAt: now.getTime(),
            smtputf8: false,
            eightBitMime: false,
            binaryMime: false,
            clientAddress: '',
            submittedBy: this.options.from,
            bounceOf: '',
            chunks: 0,
            chunkSeqs: [],
          };
          await this.spool.put(envelope, message);
          queued++;
        }
      } catch (err) {
        await this.marks.release(data.day, data.policyDomain).catch(() => undefined);
        throw err;
      }
    }
    return { queued, posted: await this.postDue(days, now.getTime()) };
  }

  /** Makes each post attempt that is due and that this replica wins; resolves with how many reports were taken. */
  private async postDue(days: DailyTlsData[], now: number): Promise<number> {
    let posted = 0;
    for (const { post, revision } of await this.marks.posts()) {
      if (post.nextAttemptAt > now) continue;
      const data = days.find((d) => d.day === post.day && d.policyDomain === post.policyDomain);
      if (!data || now > post.since + POST_RETRY_WINDOW_MS) {
        // The day's data expired, or the last attempt never ended (a crash): nothing more to try.
        if (await this.marks.takePost({ ...post, nextAttemptAt: Number.MAX_SAFE_INTEGER }, revision)) {
          await this.marks.dropPost(post);
          this.options.onPost?.({ outcome: 'abandoned', post, reason: data ? 'no attempt ended within 24 hours' : 'the day\'s TLS-RPT data is no longer kept' });
        }
        continue;
      }
      // The record says when the attempt after this one is due before this one begins: a replica that
      // dies meanwhile leaves the post to be tried again then, by any replica.
      const attempts = post.attempts + 1;
      const next = nextPostAttemptAt(post.since, attempts, now, this.options.retryAfterMs);
      const taken: PendingPost = { ...post, attempts, nextAttemptAt: next ?? post.since + POST_RETRY_WINDOW_MS + 1 };
      if (!(await this.marks.takePost(taken, revision))) continue; // another replica's attempt
      try {
        await postTlsReport(post.url, tlsReport(data, this.options.organization, this.options.from), this.options.https);
        await this.marks.dropPost(taken);
        posted++;
        this.options.onPost?.({ outcome: 'posted', post: taken });
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        if (next === undefined) {
          await this.marks.dropPost(taken);
          this.options.onPost?.({ outcome: 'abandoned', post: taken, reason: `${reason}; no more attempts: 24 hours have passed since the first (RFC 8460 §5.5)` });
        } else this.options.onPost?.({ outcome: 'failed', post: taken, reason });
      }
    }
    return posted;
  }
}
