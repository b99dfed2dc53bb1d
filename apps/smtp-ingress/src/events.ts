// The events smtp-ingress reports, in one catalogue. Each becomes one JSON log line (with the queue id
// when there is one) and, where it counts something, a metric: names and labels are decided here once.
import type { Logger } from 'pino';
import { EventLog, type EventCatalogue } from '@mail/platform';
import { smtpMetrics } from './metrics.js';

export type IngressEvent =
  | { event: 'message-accepted'; queueId: string; listener: string; client: string; sender: string; recipients: number; size: number }
  | { event: 'refused'; reason: string; reply: string; client: string; listener: string }
  | { event: 'message-authenticated'; client: string; sender: string; authorDomain: string; dmarc: string; results: { method: string; result: string }[] }
  | { event: 'auth'; user: string; client: string; result: 'success' | 'failure' | 'locked' }
  | { event: 'session-failed'; client: string; listener: string; error: string }
  | { event: 'tls-handshake-failed'; client: string; listener: string; error: string }
  | { event: 'slow-reader-dropped'; client: string; listener: string }
  | { event: 'slow-client-dropped'; phase: 'command' | 'data'; client: string; listener: string };

const CATALOGUE: EventCatalogue<IngressEvent> = {
  'message-accepted': { level: 'info', message: 'message accepted' },
  refused: { level: 'info', message: 'refused' },
  'message-authenticated': { level: 'info', message: 'mail authentication checked (SPF, DKIM, ARC, DMARC)' },
  auth: { level: 'info', message: 'SMTP AUTH' },
  'session-failed': { level: 'error', message: 'session failed' },
  'tls-handshake-failed': { level: 'info', message: 'TLS handshake failed' },
  'slow-reader-dropped': { level: 'warn', message: 'client does not read its replies; connection dropped' },
  'slow-client-dropped': { level: 'warn', message: 'client sends too slowly (command deadline or minimum data rate); connection dropped' },
};

export class IngressEvents extends EventLog<IngressEvent> {
  constructor(logger: Logger) {
    super(logger, CATALOGUE, (event) => {
      if (event.event === 'message-accepted') {
        smtpMetrics.accepted.inc();
        smtpMetrics.bytes.inc(event.size);
      } else if (event.event === 'message-authenticated') {
        for (const { method, result } of event.results) smtpMetrics.authenticationResults.inc({ method, result });
      } else if (event.event === 'refused') smtpMetrics.rejected.inc({ reason: event.reason });
      else if (event.event === 'auth' && event.result === 'failure') smtpMetrics.authFailures.inc();
    });
  }
}
