// The events pop3-access reports, in one catalogue. Each becomes one JSON log line and, where it
// counts something, a metric: names and labels are decided here once. Passwords are never part of one.
import type { Logger } from 'pino';
import { EventLog, type EventCatalogue } from '@mail/platform';
import { pop3Metrics } from './metrics.js';

export type Pop3Event =
  | { event: 'login'; user: string; client: string; result: 'success' | 'failure' | 'locked' }
  | { event: 'message-read'; mailbox: string; uidl: string }
  | { event: 'lease-renewal-failed'; mailbox: string; error: string }
  | { event: 'maildrop-release-failed'; client: string; error: string }
  | { event: 'update-failed'; mailbox: string; deletions: number; error: string }
  | { event: 'session-failed'; client: string; error: string }
  | { event: 'tls-handshake-failed'; client: string; error: string }
  | { event: 'slow-reader-dropped'; client: string }
  | { event: 'slow-client-dropped'; client: string };

const CATALOGUE: EventCatalogue<Pop3Event> = {
  login: { level: 'info', message: 'POP3 login' },
  'message-read': { level: 'debug', message: 'message read' },
  'lease-renewal-failed': { level: 'warn', message: 'maildrop lease renewal failed' },
  'maildrop-release-failed': { level: 'warn', message: 'releasing maildrop failed' },
  // The client was told -ERR at QUIT: the messages it deleted are still there and it will see them again.
  'update-failed': { level: 'warn', message: 'QUIT: deleted messages not removed' },
  'session-failed': { level: 'error', message: 'session failed' },
  'tls-handshake-failed': { level: 'info', message: 'TLS handshake failed' },
  'slow-reader-dropped': { level: 'warn', message: 'client does not read its responses; connection dropped' },
  'slow-client-dropped': { level: 'warn', message: 'client too slow sending a command; connection dropped' },
};

export class Pop3Events extends EventLog<Pop3Event> {
  constructor(logger: Logger) {
    super(logger, CATALOGUE, (event) => {
      if (event.event === 'login') {
        if (event.result !== 'locked') pop3Metrics.logins.inc({ result: event.result });
        if (event.result === 'failure') pop3Metrics.authFailures.inc();
      } else if (event.event === 'message-read') pop3Metrics.retrievals.inc();
    });
  }
}
