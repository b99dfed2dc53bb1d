// gRPC plumbing: server start-up, client creation, and the typed errors that map to gRPC status codes.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { z } from 'zod';
import { boolSetting, setting, settingGroup } from './config.js';
import { grpcClientErrors } from './metrics.js';
import { INTERMEDIATE_CIPHERS, TLS_MIN_VERSION } from './tls-profile.js';

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

/** Inter-service gRPC TLS (GRPC_TLS=true; GRPC_MTLS=true adds client certificates). Off by default. */
export const GRPC_TLS_SETTINGS = settingGroup('gRPC between the services (all five, and mailctl)', {
  enabled: setting('GRPC_TLS', boolSetting(false), 'TLS between services. Our gRPC and NATS clients offer only the TLS profile of the mail listeners; the gRPC server\'s list is grpc-js\'s (`GRPC_SSL_CIPHER_SUITES`)'),
  mutual: setting(
    'GRPC_MTLS',
    boolSetting(false),
    'ask clients for a certificate signed by `GRPC_TLS_CA_FILE` (mutual TLS): its subject CN names its service (`smtp-ingress`, `pop3-access`, `delivery-agent`, `queue-manager`, `mailctl`) and mailbox-store and queue-manager answer each method only to the identities of its table (`apps/mailbox-store/src/callers.ts`, `QUEUE_ADMIN_CALLERS`): only mailctl administers, only pop3-access opens maildrops, only delivery-agent delivers; others get `PERMISSION_DENIED`',
  ),
  certFile: setting('GRPC_TLS_CERT_FILE', z.string().default('/etc/mailplatform/grpc/tls.crt'), 'this service\'s certificate'),
  keyFile: setting('GRPC_TLS_KEY_FILE', z.string().default('/etc/mailplatform/grpc/tls.key'), 'its private key'),
  caFile: setting('GRPC_TLS_CA_FILE', z.string().default('/etc/mailplatform/grpc/ca.crt'), 'the CA that signs the services\' certificates'),
  serverNameOverride: setting('GRPC_TLS_SERVER_NAME', z.string().default(''), 'name to check the server certificate against when it differs from the address\'s host'),
});

export type GrpcTlsSettings = ReturnType<typeof GRPC_TLS_SETTINGS.load>;

/** Inter-service gRPC TLS (GRPC_TLS=true; GRPC_MTLS=true adds client certificates). Off by default. */
export const loadGrpcTlsSettings = (env: NodeJS.ProcessEnv = process.env): GrpcTlsSettings => GRPC_TLS_SETTINGS.load(env);

/** Credentials for a gRPC server: plain, TLS, or TLS requiring a client certificate from our CA. */
export function serverCredentials(settings: GrpcTlsSettings): grpc.ServerCredentials {
  if (!settings.enabled) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    settings.mutual ? readFileSync(settings.caFile) : null,
    [{ cert_chain: readFileSync(settings.certFile), private_key: readFileSync(settings.keyFile) }],
    settings.mutual,
  );
}

/** Credentials for a gRPC client: plain, or TLS verifying the server against our CA (with our certificate for mTLS). */
export function clientCredentials(settings: GrpcTlsSettings): grpc.ChannelCredentials {
  if (!settings.enabled) return grpc.credentials.createInsecure();
  // Built here rather than by createSsl, so that the client offers only the TLS profile's suites.
  const context = createSecureContext({
    ca: readFileSync(settings.caFile),
    ...(settings.mutual ? { key: readFileSync(settings.keyFile), cert: readFileSync(settings.certFile) } : {}),
    ciphers: INTERMEDIATE_CIPHERS,
    minVersion: TLS_MIN_VERSION,
  });
  return grpc.credentials.createFromSecureContext(context);
}

/** Channel options plus the TLS name override when one is set. */
export function clientOptions(settings: GrpcTlsSettings): grpc.ClientOptions {
  return settings.enabled && settings.serverNameOverride
    ? { ...clientChannelOptions, 'grpc.ssl_target_name_override': settings.serverNameOverride, 'grpc.default_authority': settings.serverNameOverride }
    : clientChannelOptions;
}

export async function startGrpcServer(
  address: string,
  register: (server: grpc.Server) => void,
  credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 8 * 1024 * 1024 });
  register(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (err, boundPort) =>
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

/** What a service's gRPC clients are made with: credentials (plain or TLS) and channel options. */
export interface GrpcClientSetup {
  credentials: grpc.ChannelCredentials;
  options: grpc.ClientOptions;
}

export const grpcClientSetup = (settings: GrpcTlsSettings): GrpcClientSetup => ({
  credentials: clientCredentials(settings),
  options: clientOptions(settings),
});

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
    const method = call.name.replace(/^bound /, '');
    // waitForReady: a call made while the channel reconnects waits for it (up to the deadline)
    // instead of failing at once.
    call(req, new grpc.Metadata(), { deadline: deadline(timeoutMs), waitForReady: true } as Partial<grpc.CallOptions>, (err, res) =>
      {
        if (!err) return resolve(res);
        grpcClientErrors.inc({ method });
        reject(err);
      },
    );
  });
}

export function isGrpcStatus(err: unknown, code: grpc.status): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/**
 * Whether a client's channel is connected, for /readyz. An idle channel is asked to connect, so a
 * service that has not called its dependency yet becomes ready as soon as the dependency answers.
 */
export function channelReady(client: grpc.Client): boolean {
  const state = client.getChannel().getConnectivityState(true);
  return state === grpc.connectivityState.READY;
}
