// Fetching a domain's MTA-STS policy file (RFC 8461 §3.3): HTTPS GET of
// https://mta-sts.<domain>/.well-known/mta-sts.txt with a certificate valid for that name, no redirect
// followed, a 200 with media type text/plain only, a size limit and one deadline for the whole fetch.
// The host name is resolved through our resolver (DNS_SERVERS), like every other name we look up.
import type { DnsLookup } from '@mail/platform';
import { httpsExchange, HttpsExchangeError } from './https-exchange.js';

export interface PolicyFetchOptions {
  lookup: DnsLookup;
  /** The HTTPS port (443; tests use a loopback port). */
  port: number;
  /** Deadline of the whole fetch: resolving, connecting, TLS and the body. */
  timeoutMs: number;
  /** The body's size limit in bytes (RFC 8461 §3.3 suggests 64 KiB). */
  maxBytes: number;
  /** Extra trusted CA certificates (PEM) beside the system's. */
  extraCa?: string;
}

/** Why a fetch failed, as RFC 8460 §4.3.2.3 names it: the certificate, or anything else. */
export class PolicyFetchError extends Error {
  constructor(
    message: string,
    readonly resultType: 'sts-webpki-invalid' | 'sts-policy-fetch-error',
  ) {
    super(message);
  }
}

/** The policy text of a domain; throws PolicyFetchError. */
export async function fetchPolicyText(domain: string, options: PolicyFetchOptions): Promise<string> {
  const url = new URL(`https://mta-sts.${domain}${options.port === 443 ? '' : `:${options.port}`}/.well-known/mta-sts.txt`);
  const fail = (message: string, resultType: PolicyFetchError['resultType'] = 'sts-policy-fetch-error') => new PolicyFetchError(`${url.href}: ${message}`, resultType);
  const answer = await httpsExchange({ url, method: 'GET', headers: { accept: 'text/plain' } }, options).catch((err: unknown) => {
    throw err instanceof HttpsExchangeError ? fail(err.message, err.certificate ? 'sts-webpki-invalid' : 'sts-policy-fetch-error') : err;
  });
  if (answer.status !== 200) throw fail(`answered HTTP ${answer.status} (redirects are not followed, RFC 8461 §3.3)`);
  const type = (answer.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'text/plain') throw fail(`media type is "${type}", not text/plain`);
  if (answer.truncated) throw fail(`policy is over the ${options.maxBytes}-byte limit`);
  return answer.body.toString('utf8');
}
