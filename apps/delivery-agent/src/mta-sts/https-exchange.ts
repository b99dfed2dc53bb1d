// The one HTTPS client of delivery-agent's MTA-STS and TLS-RPT work: one request, one answer. The host is
// resolved through our resolver (DNS_SERVERS), the certificate checked against the system's CAs and the
// extra ones (DELIVERY_TLS_EXTRA_CA_FILE), no redirect followed (a 3xx is an answer like any other), one
// deadline for the whole exchange, and at most `maxBytes` of the answer's body read.
import { request } from 'node:https';
import { isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { rootCertificates } from 'node:tls';
import { addressLookup, type DnsLookup } from '@mail/platform';

export interface HttpsExchangeOptions {
  lookup: DnsLookup;
  /** Deadline of the whole exchange: resolving, connecting, TLS, sending and the answer's body. */
  timeoutMs: number;
  /** The most of the answer's body read; beyond it the exchange stops and says `truncated`. */
  maxBytes: number;
  /** Extra trusted CA certificates (PEM) beside the system's. */
  extraCa?: string;
}

export interface HttpsRequest {
  url: URL;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: Uint8Array;
}

export interface HttpsAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body was longer than `maxBytes` (declared or sent): `body` holds what was read before stopping. */
  truncated: boolean;
}

/** Why an exchange got no answer; `certificate` when the server's certificate was refused. */
export class HttpsExchangeError extends Error {
  constructor(
    message: string,
    readonly certificate: boolean,
  ) {
    super(message);
  }
}

const CERTIFICATE_ERROR = /CERT|certificate|SELF_SIGNED|ALTNAME|UNABLE_TO_(GET|VERIFY)/i;

export function httpsExchange(what: HttpsRequest, options: HttpsExchangeOptions): Promise<HttpsAnswer> {
  const { url } = what;
  if (url.protocol !== 'https:') return Promise.reject(new HttpsExchangeError(`${url.href}: not an https: address`, false));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      outcome();
    };
    const fail = (message: string, certificate = false) => finish(() => reject(new HttpsExchangeError(message, certificate)));
    const req = request(
      {
        host,
        port: url.port ? Number(url.port) : 443,
        path: `${url.pathname}${url.search}`,
        method: what.method,
        // SNI carries names only (RFC 6066 §3); an address literal is checked against the certificate all the same.
        ...(isIP(host) ? {} : { servername: host }),
        lookup: addressLookup(options.lookup),
        ca: options.extraCa ? [...rootCertificates, options.extraCa] : undefined,
        rejectUnauthorized: true,
        agent: false,
        headers: { ...what.headers, ...(what.body ? { 'content-length': String(what.body.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const answer = (truncated: boolean) => finish(() => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), truncated }));
        if (Number(res.headers['content-length'] ?? 0) > options.maxBytes) return answer(true);
        res.on('data', (chunk: Buffer) => {
          const room = options.maxBytes - size;
          size += chunk.length;
          chunks.push(chunk.subarray(0, Math.max(0, room)));
          if (size > options.maxBytes) answer(true);
        });
        res.on('end', () => answer(false));
        res.on('error', (err) => fail(err.message));
      },
    );
    const deadline = setTimeout(() => fail(`no complete answer within ${options.timeoutMs} ms`), options.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => fail(err.message, CERTIFICATE_ERROR.test(`${err.code ?? ''} ${err.message}`)));
    req.end(what.body);
  });
}
