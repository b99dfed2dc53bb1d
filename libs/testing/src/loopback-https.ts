// An HTTPS server on 127.0.0.1 for tests, with a certificate from the test CA: started with a request
// handler, stopped with every connection cut (a test's slow or endless answers must not hold stop()).
import { createServer, type Server } from 'node:https';
import type { RequestListener } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { listen } from '@mail/platform';
import type { IssuedCertificate } from './test-ca.js';

export class LoopbackHttpsServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  /** Listens on a free loopback port; resolves with it. */
  async start(certificate: IssuedCertificate, handler: RequestListener): Promise<number> {
    this.server = createServer({ cert: await readFile(certificate.certFile), key: await readFile(certificate.keyFile) }, handler);
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    return listen(this.server, 0, '127.0.0.1');
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
