// Per-method authorization of gRPC calls by the caller's identity: under mutual TLS, the subject CN of
// the client certificate names the calling service ("smtp-ingress", "mailctl"…). Each server states in
// one table which identities may call each of its methods; any other caller gets PERMISSION_DENIED.
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';

/** For each method of a service, the client identities allowed to call it. */
export type CallerPolicy<Definition> = { readonly [Method in keyof Definition]: readonly string[] };

/** The identity of the caller: its certificate's subject CN, when it presented one. */
export function callerIdentity(call: AuthenticatedCall): string | undefined {
  const cn = call.getAuthContext()?.sslPeerCertificate?.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn || undefined;
}

/** What the authorization needs of a server call (every kind of grpc-js call has it). */
interface AuthenticatedCall {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null;
}

type AnyHandler = (call: AuthenticatedCall & { emit(event: 'error', err: unknown): boolean }, callback?: grpc.sendUnaryData<unknown>) => void;

/**
 * `implementation` with every method behind `policy`. With `enforce` false (no client certificates, the
 * loopback-only local run) the implementation is returned as it is.
 */
export function authorizeCalls<Definition extends grpc.ServiceDefinition, Implementation extends grpc.UntypedServiceImplementation>(
  definition: Definition,
  implementation: Implementation,
  policy: CallerPolicy<Definition>,
  enforce: boolean,
): Implementation {
  if (!enforce) return implementation;
  const guarded: grpc.UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(implementation) as [keyof Definition & string, AnyHandler][]) {
    const allowed = policy[method];
    const { path, responseStream } = definition[method]!;
    guarded[method] = ((call, callback) => {
      const caller = callerIdentity(call);
      if (caller !== undefined && allowed.includes(caller)) return handler(call, callback);
      const denied = { code: grpc.status.PERMISSION_DENIED, details: `${caller ?? 'an anonymous caller'} may not call ${path}` };
      if (responseStream) call.emit('error', denied);
      else callback!(denied, null);
    }) as AnyHandler as grpc.UntypedHandleCall;
  }
  return guarded as Implementation;
}
