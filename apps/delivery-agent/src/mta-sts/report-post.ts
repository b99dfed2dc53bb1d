// Posting a TLS-RPT report to an `https:` rua address (RFC 8460 §5.3): the JSON report gzipped, sent by
// HTTP POST as `application/tlsrpt+gzip`; any 2xx answer means the receiver has it (§5.4). And when a
// failed post is tried again (§5.5: for up to 24 hours, with exponential back-off).
import { gzipSync } from 'node:zlib';
import { httpsExchange, type HttpsExchangeOptions } from './https-exchange.js';

export type ReportPostOptions = Omit<HttpsExchangeOptions, 'maxBytes'>;

/** Of the receiver's answer only the first bytes are read: enough to say why it refused. */
const ANSWER_BYTES_READ = 4096;

/** Posts one report; resolves when the receiver took it, throws an Error that says why not. */
export async function postTlsReport(url: string, report: Record<string, unknown>, options: ReportPostOptions): Promise<void> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new Error(`${url}: not a URL`);
  }
  const body = gzipSync(JSON.stringify(report));
  const answer = await httpsExchange({ url: target, method: 'POST', headers: { 'content-type': 'application/tlsrpt+gzip' }, body }, { ...options, maxBytes: ANSWER_BYTES_READ });
  if (answer.status < 200 || answer.status > 299) {
    const said = answer.body.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200);
    throw new Error(`${url}: answered HTTP ${answer.status}${answer.status >= 300 && answer.status < 400 ? ' (redirects are not followed)' : ''}${said ? `: ${said}` : ''}`);
  }
}

/** RFC 8460 §5.5: a sender should try again for up to 24 hours after the first attempt. */
export const POST_RETRY_WINDOW_MS = 24 * 3600 * 1000;

/**
 * When the attempt after the `attempts`-th is due: `firstDelayMs` after the first, doubling after each
 * (§5.5, exponential back-off); undefined when that is past the 24 hours from `since` (given up).
 */
export function nextPostAttemptAt(since: number, attempts: number, now: number, firstDelayMs: number): number | undefined {
  const at = now + firstDelayMs * 2 ** Math.max(0, attempts - 1);
  return at <= since + POST_RETRY_WINDOW_MS ? at : undefined;
}
