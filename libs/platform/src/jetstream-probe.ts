// Readiness that means "can make mail durable now": a timed JetStream round trip (the spool stream's
// info) every few seconds. A connected client is not enough — a JetStream that is wedged (seen: a full
// disk on nats-server 2.9.10) still keeps the connection up while nothing can be stored.
import { SPOOL_STREAM } from '@mail/contracts';
import type { NatsContext } from './nats.js';

export interface JetStreamProbe {
  /** The last round trip succeeded, recently enough. */
  healthy(): boolean;
  stop(): void;
}

export function probeJetStream(nats: NatsContext, options: { intervalMs?: number; timeoutMs?: number } = {}): JetStreamProbe {
  const intervalMs = options.intervalMs ?? 5000;
  const timeoutMs = options.timeoutMs ?? 2000;
  let lastSuccess = 0;
  let running = false;
  const probe = async () => {
    if (running) return;
    running = true;
    try {
      await Promise.race([
        nats.jsm.streams.info(SPOOL_STREAM),
        new Promise((_, reject) => setTimeout(() => reject(new Error('JetStream round trip timed out')), timeoutMs).unref()),
      ]);
      lastSuccess = Date.now();
    } catch {
      // not healthy until the next success
    } finally {
      running = false;
    }
  };
  void probe();
  const timer = setInterval(() => void probe(), intervalMs);
  timer.unref();
  return {
    healthy: () => nats.connected() && Date.now() - lastSuccess <= intervalMs * 2 + timeoutMs,
    stop: () => clearInterval(timer),
  };
}
