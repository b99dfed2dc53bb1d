// SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463, RFC 2034). Every reply the server
// sends is built here, so the code for a situation is decided once.
import { retryAfterText } from '@mail/platform';

export interface Reply {
  code: number;
  /** Enhanced status code, e.g. "5.1.1"; omitted only for the greeting (RFC 2034 §3). */
  status?: string;
  lines: string[];
  /** Close the connection after sending this reply. */
  close?: boolean;
  /** The reply to QUIT: the client sends nothing more, so the connection is let go as soon as it has left. */
  quit?: boolean;
  /** Negotiate TLS right after sending this reply (STARTTLS). */
  startTls?: boolean;
  /** For a refused message or recipient: why, as counted in smtp_messages_rejected_total. */
  reason?: string;
}

const refusal = (r: Reply, reason: string): Reply => ({ ...r, reason });

export const reply = (code: number, status: string | undefined, ...lines: string[]): Reply => ({ code, status, lines });

/** Wire form: multi-line replies use "code-" on every line but the last (RFC 5321 §4.2.1). */
export function formatReply(r: Reply): string {
  const lines = r.lines.length > 0 ? r.lines : [''];
  return lines
    .map((text, i) => {
      const separator = i === lines.length - 1 ? ' ' : '-';
      const status = r.status ? `${r.status} ` : '';
      return `${r.code}${separator}${status}${text}\r\n`;
    })
    .join('');
}

export const Replies = {
  ok: (text = 'OK') => reply(250, '2.0.0', text),
  senderOk: () => reply(250, '2.1.0', 'Sender OK'),
  recipientOk: () => reply(250, '2.1.5', 'Recipient OK'),
  queued: (queueId: string) => reply(250, '2.0.0', `OK: queued as ${queueId}`),
  reset: () => reply(250, '2.0.0', 'Reset OK'),
  bye: () => ({ ...reply(221, '2.0.0', 'Bye'), close: true, quit: true }),
  help: () =>
    reply(214, '2.0.0', 'Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP', 'See RFC 5321 for details'),
  cannotVerify: () => reply(252, '2.5.0', 'Cannot VRFY user, but will accept message and attempt delivery'),
  startData: () => reply(354, undefined, 'End data with <CR><LF>.<CR><LF>'),

  shuttingDown: () => ({ ...reply(421, '4.3.2', 'Service shutting down, try again later'), close: true }),
  timeout: () => ({ ...reply(421, '4.4.2', 'Timeout, closing connection'), close: true }),
  tooManyErrors: () => ({ ...reply(421, '4.7.0', 'Too many errors, closing connection'), close: true }),
  tooManyConnections: () => ({ ...reply(421, '4.7.0', 'Too many connections, try again later'), close: true }),
  busyForYourAddress: () => ({ ...reply(421, '4.7.0', 'Server busy: the last connections are kept for other clients, try again later'), close: true }),
  tooManyConnectionsFromAddress: (max: number) => ({ ...reply(421, '4.7.0', `Too many connections from your address (at most ${max}), try again later`), close: true }),
  tooManyMessagesInSession: () => ({ ...reply(421, '4.7.0', 'Too many messages in one session; reconnect to send more'), close: true }),
  tooManyRecipientsInSession: () => refusal(reply(452, '4.5.3', 'Too many recipients in this session; reconnect to send more'), 'too_many_recipients'),
  recipientRateLimited: () => refusal(reply(452, '4.5.3', 'Too many recipients from your address; try again later'), 'rate_limit'),
  rateLimited: () => refusal(reply(450, '4.7.1', 'Too many messages from your address; try again later'), 'rate_limit'),
  lookupFailed: () => refusal(reply(451, '4.3.0', 'Temporary failure checking the recipient, try again later'), 'backend'),
  notQueued: () => refusal(reply(451, '4.3.0', 'Temporary failure storing the message, try again later'), 'backend'),
  tooManyRecipients: (max: number) => refusal(reply(452, '4.5.3', `Too many recipients (at most ${max} per message)`), 'too_many_recipients'),

  authSucceeded: () => reply(235, '2.7.0', 'Authentication successful'),
  authTemporaryFailure: () => reply(454, '4.7.0', 'Temporary authentication failure, try again later'),
  authLocked: (retryAfterMs?: number) => reply(454, '4.7.0', `Too many failed authentications; ${retryAfterText(retryAfterMs)}`),
  authRequired: () => reply(530, '5.7.0', 'Authentication required'),
  authFailed: () => reply(535, '5.7.8', 'Authentication credentials invalid'),
  encryptionRequired: () => reply(538, '5.7.11', 'Encryption required for requested authentication mechanism'),
  unknownMechanism: () => reply(504, '5.5.4', 'Unrecognized authentication type (PLAIN and LOGIN are supported)'),
  authCancelled: () => reply(501, '5.0.0', 'Authentication cancelled'),
  authUndecodable: () => reply(501, '5.5.2', 'Cannot decode the response (base64 expected)'),
  senderNotOwned: (user: string) => refusal(reply(553, '5.7.1', `Sender address not owned by ${user}`), 'sender_not_owned'),
  unrecognised: () => reply(500, '5.5.2', 'Command unrecognized'),
  lineTooLong: (max: number) => reply(500, '5.5.2', `Line too long (at most ${max} octets)`),
  syntax: (text: string) => reply(501, '5.5.4', text),
  badSender: (text: string) => reply(501, '5.1.7', text),
  badRecipient: (text: string) => reply(501, '5.1.3', text),
  notImplemented: (text = 'Command not implemented') => reply(502, '5.5.1', text),
  badSequence: (text: string) => reply(503, '5.5.1', text),
  unknownParameter: (name: string) => reply(555, '5.5.4', `Unsupported parameter ${name}`),
  /** RFC 8689: REQUIRETLS only on a session under TLS (530 as RFC 3207 for "STARTTLS first"; 5.7.10 encryption needed). */
  requireTlsWithoutTls: () => reply(530, '5.7.10', 'REQUIRETLS needs a TLS session: issue STARTTLS first'),
  userUnknown: () => refusal(reply(550, '5.1.1', 'User unknown in local recipient table'), 'unknown_recipient'),
  relayDenied: () => refusal(reply(550, '5.7.1', 'Relay access denied'), 'relay_denied'),
  sizeExceeded: (max: number) => refusal(reply(552, '5.3.4', `Message size exceeds fixed limit of ${max} bytes`), 'size'),
  utf8NotDeclared: () => refusal(reply(553, '5.6.7', 'Non-ASCII address requires the SMTPUTF8 parameter'), 'smtputf8'),
  loopDetected: () => refusal(reply(554, '5.4.6', 'Too many Received headers: mail loop detected'), 'loop'),
  noValidRecipients: () => reply(554, '5.5.1', 'No valid recipients'),
  bareLineEnding: () => refusal(reply(550, '5.5.2', 'Bare <CR> or <LF> in message data is not allowed; use <CR><LF>'), 'bare_line_ending'),
  /** RFC 7372 §3.1 and RFC 7489 §7.3: the author domain's DMARC policy, enforced here, says reject. */
  dmarcRejected: (domain: string) => refusal(reply(550, '5.7.1', `Message rejected: authentication (DMARC) of ${domain} failed, and its policy is reject`), 'dmarc'),
  /** A DMARC failure under p=quarantine, or a DNS failure where the policy says defer: the client tries again. */
  dmarcDeferred: (domain: string, why: string) => refusal(reply(451, '4.7.1', `Message deferred: ${why} for ${domain}; try again later`), 'dmarc'),
  eightBitNotDeclared: () => reply(554, '5.6.1', '8-bit data requires BODY=8BITMIME or SMTPUTF8'),
};
