// gRPC plumbing: server start-up, client creation, and the typed errors that map to gRPC status codes.
import * as grpc from '@grpc/grpc-js';

export { grpc };

/** An error a gRPC handler raises on purpose; its code reaches the client unchanged. */
export class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

export function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof RpcError) return { code: err.code, details: err.message };
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

export async function startGrpcServer(
  address: string,
  register: (server: grpc.Server) => void,
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 8 * 1024 * 1024 });
  register(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, boundPort) =>
      err ? reject(err) : resolve(boundPort),
    ),
  );
  return { server, port };
}

export function stopGrpcServer(server: grpc.Server, graceMs = 5_000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export const insecureCredentials = (): grpc.ChannelCredentials => grpc.credentials.createInsecure();

/**
 * Channel options for every client: reconnect quickly after the peer restarts (the defaults back off
 * up to two minutes), and keep long-lived channels healthy.
 */
export const clientChannelOptions: grpc.ClientOptions = {
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 2_000,
  'grpc.keepalive_time_ms': 30_000,
  'grpc.max_receive_message_length': 8 * 1024 * 1024,
};

/** Deadline for one unary call, as gRPC wants it. */
export const deadline = (ms: number): Date => new Date(Date.now() + ms);

/** Promise wrapper for a ts-proto grpc-js unary method. */
export function unary<Req, Res>(
  call: (req: Req, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
  req: Req,
  timeoutMs = 10_000,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    // waitForReady: a call made while the channel reconnects waits for it (up to the deadline)
    // instead of failing at once.
    call(req, new grpc.Metadata(), { deadline: deadline(timeoutMs), waitForReady: true } as Partial<grpc.CallOptions>, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

export function isGrpcStatus(err: unknown, code: grpc.status): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
