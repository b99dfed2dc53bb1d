// Delivery status notifications: multipart/report; report-type=delivery-status (RFC 6522)
// with a human-readable part, message/delivery-status fields (RFC 3464) and the
// original message's header section as text/rfc822-headers, or the whole message as message/rfc822;
// and the same report without that returned part, for where it may not travel (RFC 8689 §5).

import { buildMessage, type MailboxInput } from './builder.js';
import { formatDate } from './date.js';
import { parseHeaderBlock } from './headers.js';
import { parseMessage } from './tree.js';

export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';

export interface DsnRecipient {
  /** The recipient address as it was when the attempt failed (RFC 3464 §2.3.2). */
  finalRecipient: string;
  /** The recipient as the sender named it (ORCPT, RFC 3461 §4.2), decoded from xtext. */
  originalRecipient?: string;
  /** Its address type, as ORCPT gave it; default `rfc822`. */
  originalRecipientType?: string;
  action: DsnAction;
  /** Enhanced status code (RFC 3463), e.g. `5.1.1`. */
  status: string;
  remoteMta?: string;
  /** The SMTP reply, e.g. `550 5.1.1 user unknown`. */
  diagnosticCode?: string;
  lastAttemptDate?: Date;
  willRetryUntil?: Date;
}

export interface DsnInput {
  reportingMta: string;
  originalEnvelopeId?: string;
  arrivalDate: Date;
  recipients: DsnRecipient[];
  /** The original message, or just its header section. */
  originalHeaders: Uint8Array;
  /**
   * What is returned of it: its header section as text/rfc822-headers (the default, and RET=HDRS), or
   * the whole message as message/rfc822 (RET=FULL on a failure report, RFC 3461 §4.3).
   */
  returned?: 'headers' | 'message';
  from: MailboxInput | string;
  to: MailboxInput | string;
  subject?: string;
  date?: Date;
  messageId?: string;
}

const TITLES: Record<DsnAction, string> = {
  failed: 'could not be delivered',
  delayed: 'has been delayed',
  delivered: 'was delivered',
  relayed: 'was relayed',
  expanded: 'was expanded',
};

/** Strips CR/LF so a value cannot inject fields. */
function field(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').trim();
}

function addressType(address: string, type = 'rfc822'): string {
  return `${field(type)}; ${field(address)}`;
}

function deliveryStatus(input: DsnInput): string {
  const lines: string[] = [`Reporting-MTA: dns; ${field(input.reportingMta)}`];
  if (input.originalEnvelopeId) lines.push(`Original-Envelope-Id: ${field(input.originalEnvelopeId)}`);
  lines.push(`Arrival-Date: ${formatDate(input.arrivalDate)}`);
  const blocks = [lines.join('\r\n')];
  for (const r of input.recipients) {
    const rl: string[] = [];
    if (r.originalRecipient) rl.push(`Original-Recipient: ${addressType(r.originalRecipient, r.originalRecipientType)}`);
    rl.push(`Final-Recipient: ${addressType(r.finalRecipient)}`);
    rl.push(`Action: ${r.action}`);
    rl.push(`Status: ${field(r.status)}`);
    if (r.remoteMta) rl.push(`Remote-MTA: dns; ${field(r.remoteMta)}`);
    if (r.diagnosticCode) rl.push(`Diagnostic-Code: smtp; ${field(r.diagnosticCode)}`);
    if (r.lastAttemptDate) rl.push(`Last-Attempt-Date: ${formatDate(r.lastAttemptDate)}`);
    if (r.willRetryUntil) rl.push(`Will-Retry-Until: ${formatDate(r.willRetryUntil)}`);
    blocks.push(rl.join('\r\n'));
  }
  return blocks.join('\r\n\r\n') + '\r\n';
}

function humanReadable(input: DsnInput): string {
  const lines = [`This is the mail system at ${field(input.reportingMta)}.`, ''];
  for (const action of ['failed', 'delayed', 'delivered', 'relayed', 'expanded'] as DsnAction[]) {
    const list = input.recipients.filter((r) => r.action === action);
    if (!list.length) continue;
    lines.push(`Your message ${TITLES[action]} to the following recipient(s):`, '');
    for (const r of list) lines.push(`  <${field(r.finalRecipient)}>: ${r.diagnosticCode ? field(r.diagnosticCode) : `status ${field(r.status)}`}`);
    lines.push('');
    if (action === 'relayed') lines.push('The next system does not send delivery notifications: this is the last one for them.', '');
  }
  return lines.join('\r\n');
}

function defaultSubject(recipients: DsnRecipient[]): string {
  if (recipients.some((r) => r.action === 'failed')) return 'Undelivered Mail Returned to Sender';
  if (recipients.some((r) => r.action === 'delayed')) return 'Delayed Mail (still being retried)';
  return 'Successful Mail Delivery Report';
}

/** The header section of a message (everything before the first blank line), CRLF line ends. */
function headerSection(message: Uint8Array): Uint8Array {
  const { bodyOffset } = parseHeaderBlock(message);
  const text = Buffer.from(message.buffer, message.byteOffset, Math.min(bodyOffset, message.byteLength)).toString('latin1');
  return Buffer.from(text.replace(/\r?\n/g, '\r\n').replace(/(\r\n)+$/, '') + '\r\n', 'latin1');
}

/** Builds the bounce/delay/delivery report for the queue (RFC 3464 over RFC 6522). */
export function buildDsn(input: DsnInput): Uint8Array {
  return buildMessage({
    from: input.from,
    to: [input.to],
    subject: input.subject ?? defaultSubject(input.recipients),
    ...(input.date ? { date: input.date } : {}),
    ...(input.messageId ? { messageId: input.messageId } : {}),
    headers: [['Auto-Submitted', 'auto-replied']],
    body: {
      contentType: 'multipart/report',
      params: { 'report-type': 'delivery-status' },
      children: [
        { contentType: 'text/plain', content: humanReadable(input) },
        deliveryStatusPart(deliveryStatus(input)),
        input.returned === 'message'
          ? { contentType: 'message/rfc822', content: input.originalHeaders }
          : { contentType: 'text/rfc822-headers', content: headerSection(input.originalHeaders), transferEncoding: /[\x80-\xff]/.test(Buffer.from(input.originalHeaders).toString('latin1')) ? '8bit' : '7bit' },
      ],
    },
  });
}

const deliveryStatusPart = (content: Uint8Array | string) => ({ contentType: 'message/delivery-status', content, transferEncoding: '7bit' as const });

/**
 * A report built by buildDsn, again without its third part (the returned header section or message):
 * the same From, To, Subject and status fields, `note` added to the human-readable part, a new
 * Message-ID. Undefined when `report` is not a delivery-status report.
 */
export function withoutReturnedContent(report: Uint8Array, note: string, date = new Date()): Uint8Array | undefined {
  const parsed = parseMessage(report);
  const [text, status] = parsed.root.children;
  const from = parsed.from?.[0];
  const to = parsed.to?.[0];
  if (parsed.root.contentType.mimeType !== 'multipart/report' || !from || !to || text?.contentType.mimeType !== 'text/plain' || status?.contentType.mimeType !== 'message/delivery-status') return undefined;
  return buildMessage({
    from: from.name ? { name: from.name, address: from.address } : from.address,
    to: [to.address],
    subject: parsed.subject ?? 'Delivery Status Notification',
    date,
    headers: [['Auto-Submitted', 'auto-replied']],
    body: {
      contentType: 'multipart/report',
      params: { 'report-type': 'delivery-status' },
      children: [{ contentType: 'text/plain', content: `${(text.text ?? '').replace(/(\r?\n)*$/, '')}\r\n\r\n${note}\r\n` }, deliveryStatusPart(status.content)],
    },
  });
}
