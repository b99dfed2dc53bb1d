// mailctl tlsrpt show: the TLS-RPT data (RFC 8460) delivery-agent has collected — per policy domain and
// day, sessions that got the TLS their MTA-STS policy asks for and those that failed, and why — read
// from delivery-agent's HTTP port (/tlsrpt), as mailctl status reads /status. `--json`: the RFC 8460
// §4.4 report of each domain and day.
import type { Command } from 'commander';
import { SERVICE_HTTP_PORTS } from '@mail/platform';
import { action } from './cli.js';

/** One domain's day, as delivery-agent keeps it (apps/delivery-agent/src/mta-sts/tls-report.ts). */
interface DailyTlsData {
  policyDomain: string;
  day: string;
  rua: string[];
  policy: { type: string; mxHosts: string[] };
  successful: number;
  failed: number;
  failures: { resultType: string; receivingMxHostname: string; count: number; detail: string }[];
}

export function tlsRptUrl(domain: string | undefined, report: boolean, env: NodeJS.ProcessEnv = process.env): string {
  const { variable, fallback } = SERVICE_HTTP_PORTS['delivery-agent'];
  const query = new URLSearchParams({ ...(domain ? { domain } : {}), ...(report ? { format: 'report' } : {}) });
  return `http://127.0.0.1:${env[variable] || fallback}/tlsrpt?${query}`;
}

export function registerTlsRptCommands(mailctl: Command): void {
  const tlsrpt = mailctl.command('tlsrpt').description('TLS reporting (RFC 8460): what outbound TLS to MTA-STS domains achieved');
  tlsrpt
    .command('show [domain]')
    .description('sessions and failures per policy domain and day (kept a week); --json: the RFC 8460 JSON reports')
    .option('--json', 'print the RFC 8460 report of each domain and day')
    .action(
      action(async (c, domain: string | undefined, options: { json?: boolean }) => {
        const url = tlsRptUrl(domain, Boolean(options.json));
        let response: Response;
        try {
          response = await fetch(url, { signal: AbortSignal.timeout(c.timeout) });
        } catch (err) {
          throw new Error(`delivery-agent did not answer at ${url}: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`);
        }
        if (!response.ok) throw new Error(`delivery-agent answered ${response.status} at ${url}`);
        const body = (await response.json()) as unknown[];
        if (options.json) {
          console.log(JSON.stringify(body, null, 2));
          return;
        }
        const days = body as DailyTlsData[];
        if (days.length === 0) console.log(domain ? `no TLS-RPT data for ${domain}` : 'no TLS-RPT data');
        for (const d of days) {
          console.log(`${d.day} ${d.policyDomain} (${d.policy.type}${d.policy.mxHosts.length ? `, mx ${d.policy.mxHosts.join(' ')}` : ''}): ${d.successful} successful, ${d.failed} failed; reports to ${d.rua.join(', ')}`);
          for (const f of d.failures) console.log(`  ${f.resultType}${f.receivingMxHostname ? ` at ${f.receivingMxHostname}` : ''}: ${f.count} — ${f.detail}`);
        }
      }),
    );
}
