// An HTTPS server on loopback that plays the `mta-sts.<domain>` policy hosts of MTA-STS tests (RFC 8461
// §3.3): one certificate from the test CA for every name it serves, and per host the answer a test asks
// for — a policy, a redirect, another media type, a huge body, or a server too slow to finish.
import { createServer, type Server } from 'node:https';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { listen } from '@mail/platform';
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
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  async start(certificate: IssuedCertificate): Promise<number> {
    this.server = createServer({ cert: await readFile(certificate.certFile), key: await readFile(certificate.keyFile) }, (req, res) => {
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
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.port = await listen(this.server, 0, '127.0.0.1');
    return this.port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** A policy file's text (RFC 8461 §3.2), CRLF line ends. */
export const stsPolicyText = (mode: 'enforce' | 'testing' | 'none', mx: string[], maxAge = 86_400): string =>
  ['version: STSv1', `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), `max_age: ${maxAge}`, ''].join('\r\n');
