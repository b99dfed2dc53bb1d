// Small TCP helpers.
import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';

/** Starts listening and resolves with the bound port (useful with port 0). */
export function listen(server: Server | import('node:http').Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Resolves when a socket's queued output has been taken by the peer ('drain'), or the socket closed. */
export function drained(socket: import('node:net').Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
