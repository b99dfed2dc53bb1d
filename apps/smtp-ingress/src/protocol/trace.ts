// The Received: trace header (RFC 5321 §4.4) that the ingress prepends to every message.

export interface TraceInfo {
  clientName: string;
  clientAddress: string;
  serverName: string;
  protocol: string;
  queueId: string;
  recipients: string[];
  date: Date;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** RFC 5322 §3.3 date-time in UTC, e.g. "Sun, 29 Nov 2026 14:00:00 +0000". */
export function formatRfc5322Date(date: Date): string {
  return `${DAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ${two(
    date.getUTCHours(),
  )}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`;
}

/** Keeps the client's self-chosen name from breaking the header (it is untrusted input). */
const sanitise = (text: string) => text.replace(/[^\x21-\x7e\u0080-\u{10FFFF}]/gu, '?').replace(/[()\\]/g, '?').slice(0, 255);

export function formatReceivedHeader(info: TraceInfo): string {
  const address = info.clientAddress.includes(':') ? `IPv6:${info.clientAddress}` : info.clientAddress;
  // "for" names the recipient only when there is one: several would disclose the whole envelope.
  const forClause = info.recipients.length === 1 ? `\r\n\tfor <${sanitise(info.recipients[0]!)}>` : '';
  return (
    `Received: from ${sanitise(info.clientName)} ([${address}])\r\n` +
    `\tby ${info.serverName} (mailplatform) with ${info.protocol} id ${info.queueId}${forClause};\r\n` +
    `\t${formatRfc5322Date(info.date)}\r\n`
  );
}
