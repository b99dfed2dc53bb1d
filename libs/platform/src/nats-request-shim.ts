// A measured fix for @nats-io/nats-core 3.4.0 (the newest release): RequestOne.cancel() builds a
// RequestError — a stack capture — every time a request ends, also after a successful answer, where
// the rejection it feeds goes nowhere. Every JetStream publish ack and KV operation pays for it; under
// load it was 14% of queue-manager's CPU. This skips building the error once the request has been
// answered, and leaves every other path (timeouts, errors, real cancellations) as the library has it.
// Applied once, only if the class still looks the way this was written against.
import { RequestOne } from '@nats-io/nats-core/internal';

interface PatchableRequest {
  answered?: boolean;
  timer?: { cancel(): void };
  mux: { cancel(request: unknown): void };
  resolver(err: Error | null, msg: unknown): void;
  cancel(err?: Error): void;
}

let applied = false;

export function skipErrorsOfAnsweredRequests(): boolean {
  if (applied) return true;
  const proto = RequestOne.prototype as unknown as PatchableRequest & { __mailPatched?: boolean };
  if (typeof proto.resolver !== 'function' || typeof proto.cancel !== 'function' || proto.cancel.length !== 1) return false;
  const resolver = proto.resolver;
  const cancel = proto.cancel;
  proto.resolver = function (this: PatchableRequest, err: Error | null, msg: unknown) {
    this.answered = true;
    resolver.call(this, err, msg);
  };
  proto.cancel = function (this: PatchableRequest, err?: Error) {
    if (err || !this.answered) {
      cancel.call(this, err);
      return;
    }
    this.timer?.cancel();
    this.mux.cancel(this);
  };
  applied = true;
  return true;
}
