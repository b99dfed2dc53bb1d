// pop3-access metrics (deploy/observability/METRICS.md).
import { Counter } from 'prom-client';
import { exportAuthFailures, registry } from '@mail/platform';

export const pop3Metrics = {
  logins: new Counter({ name: 'pop3_logins_total', help: 'POP3 logins by result', labelNames: ['result'], registers: [registry] }),
  retrievals: new Counter({ name: 'pop3_retrievals_total', help: 'Message contents read (RETR, and TOP)', registers: [registry] }),
  authFailures: exportAuthFailures(),
};
