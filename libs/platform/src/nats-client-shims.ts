// Measured fixes for @nats-io/nats-core 3.4.0 (the newest release), each applied once, and only if the
// class it changes still looks the way it was written against; every other path stays the library's.
//
// 1. RequestOne.cancel() builds a RequestError — a stack capture — every time a request ends, also after
// a successful answer, where the rejection it feeds goes nowhere. Every JetStream publish ack and KV
// operation pays for it; under load it was 14% of queue-manager's CPU. The error is skipped once the
// request has been answered.
//
// 2. A message that spans several socket reads is gathered in a buffer that starts at the first read's
// size and grows by doubling: a 200 KB message allocated (zero-filled) about 650 KB and copied about
// 320 KB more than it needed. In delivery-agent, which reads every message from the spool, that garbage
// set off a full garbage collection every ~100 messages at 200 KB. The buffer now grows once, to the size
// the message's MSG line announced.
import { Parser, RequestOne, State } from '@nats-io/nats-core/internal';

interface PatchableRequest {
  answered?: boolean;
  timer?: { cancel(): void };
  mux: { cancel(request: unknown): void };
  resolver(err: Error | null, msg: unknown): void;
  cancel(err?: Error): void;
}

let requestsPatched = false;

export function skipErrorsOfAnsweredRequests(): boolean {
  if (requestsPatched) return true;
  const proto = RequestOne.prototype as unknown as PatchableRequest;
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
  requestsPatched = true;
  return true;
}

let parserPatched = false;

export function sizeSplitMessagesOnce(): boolean {
  if (parserPatched) return true;
  const proto = Parser.prototype;
  if (typeof proto.parse !== 'function' || State.MSG_PAYLOAD === undefined) return false;
  const parse = proto.parse;
  proto.parse = function (this: Parser, buf: Uint8Array) {
    // Set after a read that ended inside a payload: grow it now to what the rest needs, before the next
    // read is appended (the library would double it read by read).
    const gathering = this.msgBuf;
    if (this.state === State.MSG_PAYLOAD && gathering && gathering.capacity < this.ma.size) gathering.grow(this.ma.size - gathering.length);
    parse.call(this, buf);
  };
  parserPatched = true;
  return true;
}
