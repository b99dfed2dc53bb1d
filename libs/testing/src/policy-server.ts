// An HTTPS server on loopback that plays the `mta-sts.<domain>` policy hosts of MTA-STS tests (RFC 8461
// §3.3): one certificate from the test CA for every name it serves, and per host the answer a test asks
// for — a policy, a redirect, another media type, a huge body, or a server too slow to finish.
import { LoopbackHttpsServer } from './loopback-https.js';
import type { IssuedCertificate } from './test-ca.js';

export interface PolicyAnswer {
  body?: string;
  status?: number;
  contentType?: string;
  location?: string;
  /** Sends the headers, then stalls this long before the body (a slow server). */
  stallMs?: number;
}

export class PolicyServer {
  /** What each host (`mta-sts.<domain>`) answers; a host not here gets 404. */
  readonly answers = new Map<string, PolicyAnswer>();
  /** Requests seen, as host names, in order. */
  readonly requests: string[] = [];
  port = 0;
  private readonly https = new LoopbackHttpsServer();

  async start(certificate: IssuedCertificate): Promise<number> {
    this.port = await this.https.start(certificate, (req, res) => {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
      this.requests.push(host);
      const answer = req.url === '/.well-known/mta-sts.txt' ? this.answers.get(host) : undefined;
      if (!answer) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      res.writeHead(answer.status ?? 200, { 'content-type': answer.contentType ?? 'text/plain', ...(answer.location ? { location: answer.location } : {}) });
      if (answer.stallMs) {
        res.write((answer.body ?? '').slice(0, 10));
        setTimeout(() => res.end((answer.body ?? '').slice(10)), answer.stallMs).unref();
      } else res.end(answer.body ?? '');
    });
    return this.port;
  }

  stop(): Promise<void> {
    return this.https.stop();
  }
}

/** A policy file's text (RFC 8461 §3.2), CRLF line ends. */
export const stsPolicyText = (mode: 'enforce' | 'testing' | 'none', mx: string[], maxAge = 86_400): string =>
  ['version: STSv1', `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), `max_age: ${maxAge}`, ''].join('\r\n');
