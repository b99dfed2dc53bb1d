// Typed event catalogues (STYLE.md): each service lists its events once, with their log level and
// message; emitting one writes one JSON log line and lets the service count it in its metrics.
import type { Logger } from 'pino';

export type EventLevel = 'debug' | 'info' | 'warn' | 'error';

export type EventCatalogue<E extends { event: string }> = { [K in E['event']]: { level: EventLevel; message: string } };

export class EventLog<E extends { event: string }> {
  constructor(
    private readonly logger: Logger,
    private readonly catalogue: EventCatalogue<E>,
    /** Turns an event into metric updates (or nothing). */
    private readonly count: (event: E) => void = () => undefined,
  ) {}

  emit(event: E): void {
    const { level, message } = this.catalogue[event.event as E['event']];
    this.logger[level](event as object, message);
    this.count(event);
  }
}
