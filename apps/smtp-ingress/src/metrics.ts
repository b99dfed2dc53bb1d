// smtp-ingress metrics (deploy/observability/METRICS.md).
import { Counter, Gauge } from 'prom-client';
import { exportAuthFailures, registry } from '@mail/platform';

export const smtpMetrics = {
  connections: new Counter({ name: 'smtp_connections_total', help: 'SMTP connections accepted', registers: [registry] }),
  sessionsActive: new Gauge({ name: 'smtp_sessions_active', help: 'SMTP sessions open now', registers: [registry] }),
  accepted: new Counter({ name: 'smtp_messages_accepted_total', help: 'Messages answered 250 after DATA', registers: [registry] }),
  rejected: new Counter({
    name: 'smtp_messages_rejected_total',
    help: 'Messages or recipients refused, by reason',
    labelNames: ['reason'],
    registers: [registry],
  }),
  authenticationResults: new Counter({
    name: 'smtp_authentication_results_total',
    help: 'Results of the mail authentication checks (SPF of MAIL FROM and HELO, one per DKIM signature, ARC, DMARC), by method and result',
    labelNames: ['method', 'result'],
    registers: [registry],
  }),
  bytes: new Counter({ name: 'smtp_message_bytes_total', help: 'Bytes of accepted messages', registers: [registry] }),
  authFailures: exportAuthFailures(),
};
