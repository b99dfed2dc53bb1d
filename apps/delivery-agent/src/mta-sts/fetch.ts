// Fetching a domain's MTA-STS policy file (RFC 8461 §3.3): HTTPS GET of
// https://mta-sts.<domain>/.well-known/mta-sts.txt with a certificate valid for that name, no redirect
// followed, a 200 with media type text/plain only, a size limit and one deadline for the whole fetch.
// The host name is resolved through our resolver (DNS_SERVERS), like every other name we look up.
import { request } from 'node:https';
import { rootCertificates } from 'node:tls';
import { addressLookup, type DnsLookup } from '@mail/platform';

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

const CERTIFICATE_ERROR = /CERT|certificate|SELF_SIGNED|ALTNAME|UNABLE_TO_(GET|VERIFY)/i;

/** The policy text of a domain; throws PolicyFetchError. */
export function fetchPolicyText(domain: string, options: PolicyFetchOptions): Promise<string> {
  const host = `mta-sts.${domain}`;
  const url = `https://${host}${options.port === 443 ? '' : `:${options.port}`}/.well-known/mta-sts.txt`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (message: string, resultType: PolicyFetchError['resultType'] = 'sts-policy-fetch-error') => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      reject(new PolicyFetchError(`${url}: ${message}`, resultType));
    };
    const req = request(
      {
        host,
        port: options.port,
        path: '/.well-known/mta-sts.txt',
        method: 'GET',
        servername: host,
        lookup: addressLookup(options.lookup),
        ca: options.extraCa ? [...rootCertificates, options.extraCa] : undefined,
        rejectUnauthorized: true,
        agent: false,
        headers: { accept: 'text/plain' },
      },
      (res) => {
        if (res.statusCode !== 200) return fail(`answered HTTP ${res.statusCode} (redirects are not followed, RFC 8461 §3.3)`);
        const type = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'text/plain') return fail(`media type is "${type}", not text/plain`);
        const declared = Number(res.headers['content-length'] ?? 0);
        if (declared > options.maxBytes) return fail(`policy of ${declared} bytes is over the ${options.maxBytes}-byte limit`);
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxBytes) return fail(`policy is over the ${options.maxBytes}-byte limit`);
          chunks.push(chunk);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(deadline);
          resolve(Buffer.concat(chunks).toString('utf8'));
        });
        res.on('error', (err) => fail(err.message));
      },
    );
    const deadline = setTimeout(() => fail(`no complete answer within ${options.timeoutMs} ms`), options.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => fail(err.message, CERTIFICATE_ERROR.test(`${err.code ?? ''} ${err.message}`) ? 'sts-webpki-invalid' : 'sts-policy-fetch-error'));
    req.end();
  });
}
