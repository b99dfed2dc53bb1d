// An HTTPS server on loopback that plays a TLS-RPT `https:` rua (RFC 8460 §5.3): a certificate from the
// test CA, every POST recorded whole (host, path, headers, body), and the answer a test asks for per
// request — 200 by default, or a failure status, or a redirect that must not be followed, or an answer
// whose body never ends (a client must stop reading on its own).
import type { IncomingHttpHeaders } from 'node:http';
import { LoopbackHttpsServer } from './loopback-https.js';
import type { IssuedCertificate } from './test-ca.js';

export interface ReceivedReport {
  method: string;
  host: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The status it was answered with. */
  status: number;
}

export class ReportReceiver {
  readonly received: ReceivedReport[] = [];
  /** The status of the n-th request (from 1); default 200. */
  answer: (n: number) => number = () => 200;
  /** Answer with a body that never ends (64 KiB every 10 ms until the client goes). */
  endlessBody = false;
  port = 0;
  private readonly https = new LoopbackHttpsServer();

  async start(certificate: IssuedCertificate): Promise<number> {
    this.port = await this.https.start(certificate, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const status = this.answer(this.received.length + 1);
        this.received.push({ method: req.method ?? '', host: (req.headers.host ?? '').replace(/:\d+$/, ''), path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks), status });
        res.writeHead(status, { 'content-type': 'text/plain', ...(status >= 300 && status < 400 ? { location: '/elsewhere' } : {}) });
        if (!this.endlessBody) return void res.end(status < 300 ? 'thanks\n' : `refused with ${status}\n`);
        const more = setInterval(() => res.write('x'.repeat(64 * 1024)), 10);
        res.on('close', () => clearInterval(more));
      });
    });
    return this.port;
  }

  stop(): Promise<void> {
    return this.https.stop();
  }
}
