// Sends the TLS-RPT reports of finished days (RFC 8460 §5.3) to the `mailto:` addresses the policy
// domains publish, through our own queue: each report is spooled like accepted mail (queue-manager plans,
// retries and bounces it; delivery-agent signs it with DKIM when the From domain has a key). One replica
// sends each report: the first to create its "sent" mark in the tls-reports bucket. `https:` rua
// addresses are not posted to.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { buildMessage } from '@mail/mime';
import type { AcceptedMessage } from '@mail/contracts';
import { tlsReport, type DailyTlsData } from './tls-report.js';

export interface ReportMarks {
  /** Days kept, newest first. */
  list(): Promise<DailyTlsData[]>;
  /** True for the one caller that may send this report. */
  claim(day: string, domain: string): Promise<boolean>;
  /** Gives a claim back (the report could not be queued). */
  release(day: string, domain: string): Promise<void>;
}

export interface ReportSenderOptions {
  /** organization-name and TLS-Report-Submitter: our host name. */
  organization: string;
  /** The From address of the reports (its domain's DKIM key signs them, when there is one). */
  from: string;
}

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** The same report to the same address always gets the same queue id, so a repeated spool write is dropped as a duplicate. */
export function reportQueueId(day: string, domain: string, rua: string): string {
  let time = '';
  for (let t = Date.parse(`${day}T23:59:59Z`), i = 0; i < 10; i++, t = Math.floor(t / 32)) time = ALPHABET[t % 32] + time;
  const digest = createHash('sha256').update(`${day}\n${domain}\n${rua}`).digest();
  return time + [...digest.subarray(0, 10)].map((b) => ALPHABET[b % 32]).join('');
}

/** The report mail of RFC 8460 §5.3: multipart/report; report-type="tlsrpt", the JSON gzipped as application/tlsrpt+gzip. */
export function reportMessage(data: DailyTlsData, to: string, options: ReportSenderOptions, now = new Date()): Uint8Array {
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
  constructor(
    private readonly marks: ReportMarks,
    private readonly spool: { put(envelope: AcceptedMessage, message: Uint8Array): Promise<unknown> },
    private readonly options: ReportSenderOptions,
  ) {}

  /** Queues the reports of every day before `now`'s that no replica has sent yet; resolves with how many were queued. */
  async sendDue(now = new Date()): Promise<number> {
    const today = now.toISOString().slice(0, 10);
    let queued = 0;
    for (const data of await this.marks.list()) {
      const recipients = data.rua.filter((uri) => uri.toLowerCase().startsWith('mailto:')).map((uri) => decodeURIComponent(uri.slice('mailto:'.length).split('?')[0]!));
      if (data.day >= today || recipients.length === 0) continue;
      if (!(await this.marks.claim(data.day, data.policyDomain))) continue;
      try {
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
    return queued;
  }
}
