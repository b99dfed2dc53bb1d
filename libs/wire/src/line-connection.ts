// One client connection of a line protocol (SMTP, POP3): command lines go to the protocol strictly one at
// a time, in the order they arrived (RFC 2920, RFC 1939 pipelining), and its replies go out; around that,
// what both protocols keep the same way: timeouts and deadlines, input and output limits, the half-close,
// the STARTTLS/STLS upgrade and a graceful drain. What is said, and when, is the LineProtocol's.
import type { Socket } from 'node:net';
import { InputDeadline } from './input-deadline.js';
import { LineReader } from './line-reader.js';
import { upgradeToTls } from './accept.js';
import type { TlsMaterial } from './tls.js';

/**
 * What the connection does once a reply is written. 'close': the server ends the session, and the client
 * may still be sending; our side closes and the client is given time to close its own, so that input of
 * its arriving after our close does not turn into a reset that could cost it our last reply. 'hang-up':
 * the client asked to end (QUIT) and will send nothing more; the connection is let go as soon as the
 * reply has left, as RFC 5321 §4.1.1.10 and RFC 1939 §6 have the server do, without waiting for the
 * client's FIN (a client that resets instead, as many do, then meets a closed socket, not a read error).
 */
export type AfterReply = 'continue' | 'start-tls' | 'close' | 'hang-up';

/** A reply in wire form: written at once, or (a long one) in pieces written as fast as the client reads. */
export type WireReply = string | Buffer | AsyncIterable<Uint8Array>;

/** What the connection reports; the protocol adds who the client is and logs or counts it. */
export type ConnectionEvent =
  | { event: 'session-failed'; error: string }
  | { event: 'tls-handshake-failed'; error: string }
  | { event: 'slow-reader-dropped' }
  | { event: 'slow-client-dropped'; phase: 'command' | 'data' }
  | { event: 'socket-error'; error: string };

/**
 * Raw bytes after a command (SMTP DATA and BDAT): while `readingData`, input goes to pushData() instead of
 * the line reader, and finishData() gives the reply once the end is seen.
 */
export interface DataMode<Reply> {
  readonly readingData: boolean;
  /** How many bytes of `input` the data used once its end arrived (the rest are pipelined commands); -1 for "more". */
  pushData(input: Buffer): number;
  finishData(): Promise<Reply>;
  /**
   * While what the data went to is behind (SMTP's spool writer), a promise for when it has caught up:
   * the connection reads nothing more until then, so TCP holds the client back instead of memory.
   */
  whenStored?(): Promise<void> | undefined;
}

/** A protocol as the connection sees it: its session's replies, their wire form, and a few rules of its own. */
export interface LineProtocol<Reply> {
  greeting(): Reply;
  /** The reply to one command line (without its line ending); undefined when data follows and its reply comes from finishData() (BDAT). */
  command(line: string): Promise<Reply | undefined>;
  /** The reply to a line longer than maxLineBytes (dropped unread). */
  lineTooLong(): Reply;
  /** The last reply when handling input threw (the connection has reported the error). */
  failed(): Reply;
  /** The last reply to a client silent for the idle timeout. */
  idle(): Reply;
  /** The last reply to a client too slow over one command line, or below the minimum data rate. */
  tooSlow(phase: 'command' | 'data'): Reply;
  /** The last reply to a session at rest when the server shuts down. */
  shuttingDown(): Reply;
  /** No transaction in flight: a draining server may let the session go now. */
  readonly atRest: boolean;
  /** The reply in wire form. Every reply passes here, even one that can no longer be written. */
  encode(reply: Reply): WireReply;
  after(reply: Reply): AfterReply;
  /** The TLS handshake that followed a 'start-tls' reply succeeded: the session starts over, secure. */
  tlsStarted(): void;
  /** The connection is gone. */
  ended(): void;
  report(event: ConnectionEvent): void;
  /** Present when commands may be followed by raw bytes. */
  readonly data?: DataMode<Reply>;
}

export interface LineConnectionSettings {
  /** Longest command line, its line ending included. */
  maxLineBytes: number;
  /** Silence between reads after which the client is told idle() and let go. */
  idleTimeoutMs: number;
  /** A command line must be complete this long after its first byte. */
  commandDeadlineMs: number;
  /** The certificate for a 'start-tls' reply, and how long its handshake may take. */
  tls: TlsMaterial | undefined;
  tlsHandshakeTimeoutMs: number;
  /** While reading data: the idle timeout (default idleTimeoutMs), and the average bytes per second to keep up after it (0: none). */
  dataIdleTimeoutMs?: number;
  minDataRate?: number;
  /** Pipelined input held while a command is being answered; past this the socket is paused. */
  maxPendingInput?: number;
  /** Output queued to a client that does not read; past this the connection is dropped. */
  maxUnreadOutput?: number;
}

const MAX_PENDING_INPUT = 64 * 1024;
const MAX_UNREAD_OUTPUT = 1024 * 1024;
/** A streamed reply is written in pieces of about this size (Nagle is off: each write is a segment). */
const COALESCE_BYTES = 64 * 1024;
/** After our last reply, how long a client may take to close its side before it is cut. */
const LINGER_MS = 10_000;

export class LineConnection<Reply> implements DrainableConnection {
  private readonly lines: LineReader;
  private readonly lineDeadline = new InputDeadline(() => this.tooSlow('command'));
  /** Data must keep up a minimum rate: every byte earns a little more time. */
  private readonly dataDeadline = new InputDeadline(() => this.tooSlow('data'));
  private readonly maxPendingInput: number;
  private readonly maxUnreadOutput: number;
  private readonly closeListeners: (() => void)[] = [];
  private overLongDropsSeen = 0;
  private busy = false;
  private closed = false;
  private upgrading = false;
  /** Replies of a pipelined group held back, to go out together, and their length. */
  private heldReplies: (string | Buffer)[] = [];
  private heldBytes = 0;
  /** The client sent FIN: answer what it sent, then close our side. */
  private peerEnded = false;
  /** Shutting down: the session is let go at its next point of rest. */
  private draining = false;

  constructor(
    private socket: Socket,
    private readonly protocol: LineProtocol<Reply>,
    private readonly settings: LineConnectionSettings,
  ) {
    this.lines = new LineReader(settings.maxLineBytes);
    this.maxPendingInput = settings.maxPendingInput ?? MAX_PENDING_INPUT;
    this.maxUnreadOutput = settings.maxUnreadOutput ?? MAX_UNREAD_OUTPUT;
  }

  /** Takes over the socket (accepted with `allowHalfOpen`) and greets. */
  start(): void {
    this.socket.on('close', () => {
      this.closed = true;
      this.lineDeadline.clear();
      this.dataDeadline.clear();
      this.protocol.ended();
      for (const listener of this.closeListeners) listener();
    });
    this.attach(this.socket);
    void this.send(this.protocol.greeting());
  }

  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  /** Graceful shutdown: a session at rest is told shuttingDown() now, one in a transaction once it ends. */
  drain(): void {
    this.draining = true;
    if (!this.busy && !this.upgrading) this.farewellIfAtRest(); // mid-handshake: once TLS is up
  }

  /** Cuts the connection at once (a drain's grace is over). */
  destroy(): void {
    this.socket.destroy();
  }

  private get readingData(): boolean {
    return this.protocol.data?.readingData ?? false;
  }

  private get atRest(): boolean {
    return !this.readingData && this.protocol.atRest;
  }

  private get dataIdleTimeoutMs(): number {
    return this.settings.dataIdleTimeoutMs ?? this.settings.idleTimeoutMs;
  }

  private attach(socket: Socket): void {
    socket.setTimeout(this.readingData ? this.dataIdleTimeoutMs : this.settings.idleTimeoutMs);
    socket.on('timeout', () => void this.sayLast(this.protocol.idle()));
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.protocol.report({ event: 'socket-error', error: err.message }));
    socket.once('end', () => {
      this.peerEnded = true;
      void this.pump();
    });
    socket.resume(); // it may have been paused while a PROXY header was read
  }

  private receive(chunk: Buffer): void {
    if (this.closed || this.upgrading) return;
    this.lines.push(chunk);
    if (this.lines.buffered > this.maxPendingInput && !this.readingData) this.socket.pause();
    void this.pump();
  }

  /** Processes buffered input strictly in order, one command at a time. */
  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (!this.closed && !this.upgrading) {
        const data = this.protocol.data;
        if (data?.readingData) {
          if (this.lines.buffered === 0) break;
          const input = this.lines.takeAll();
          const used = data.pushData(input);
          const minDataRate = this.settings.minDataRate ?? 0;
          if (minDataRate > 0) this.dataDeadline.extend(((used < 0 ? input.length : used) * 1000) / minDataRate);
          const behind = data.whenStored?.();
          if (behind) {
            // The wait is ours, not the client's: it does not count against its data rate.
            const waitStarted = Date.now();
            this.socket.pause();
            await behind;
            if (minDataRate > 0) this.dataDeadline.extend(Date.now() - waitStarted);
            if (!this.closed) this.socket.resume();
          }
          if (used < 0) break;
          this.lines.giveBack(input.subarray(used)); // pipelined commands after the data
          this.dataDeadline.clear();
          this.socket.setTimeout(this.settings.idleTimeoutMs);
          await this.send(await data.finishData());
          this.farewellIfAtRest();
          continue;
        }
        const next = this.lines.next();
        if (!next) break;
        this.lineDeadline.clear();
        if ('tooLong' in next) {
          await this.send(this.protocol.lineTooLong());
          continue;
        }
        const reply = await this.protocol.command(next.line);
        if (reply) await this.send(reply); // none yet when data follows: it is read first
        this.farewellIfAtRest();
        if (this.readingData) {
          this.socket.setTimeout(this.dataIdleTimeoutMs);
          if ((this.settings.minDataRate ?? 0) > 0) this.dataDeadline.arm(this.dataIdleTimeoutMs);
        }
      }
    } catch (err) {
      this.protocol.report({ event: 'session-failed', error: err instanceof Error ? err.message : String(err) });
      void this.sayLast(this.protocol.failed());
    } finally {
      this.busy = false;
      this.releaseReplies(); // nothing waits for input with replies held back
    }
    if (this.socket.isPaused() && this.lines.buffered <= this.maxPendingInput && !this.upgrading) this.socket.resume();
    // What is left is the start of a command line: from now on the client has commandDeadlineMs to finish it
    // (an over-long line being dropped earns a new deadline with every maxLineBytes that arrive).
    if (this.lines.overLongDrops !== this.overLongDropsSeen) {
      this.overLongDropsSeen = this.lines.overLongDrops;
      this.lineDeadline.clear();
    }
    if (!this.closed && !this.upgrading && !this.readingData && this.lines.midLine) this.lineDeadline.arm(this.settings.commandDeadlineMs);
    if (this.peerEnded && !this.busy && !this.closed) {
      // Everything complete that the client sent before its FIN has been answered (unfinished data is dropped).
      this.closed = true;
      this.socket.end();
    }
  }

  private farewellIfAtRest(): void {
    if (this.draining && this.atRest) void this.send(this.protocol.shuttingDown());
  }

  private tooSlow(phase: 'command' | 'data'): void {
    this.protocol.report({ event: 'slow-client-dropped', phase });
    void this.sayLast(this.protocol.tooSlow(phase));
  }

  /** A reply after which the connection closes, whatever the reply says. */
  private async sayLast(reply: Reply): Promise<void> {
    const sent = this.send(reply);
    this.close();
    await sent;
  }

  /** Writes a reply, then does what it calls for. */
  private async send(reply: Reply): Promise<void> {
    const wire = this.protocol.encode(reply);
    if (this.closed || !this.socket.writable) return;
    const next = this.protocol.after(reply);
    if (typeof wire === 'string' || Buffer.isBuffer(wire)) {
      // RFC 2920 §3.2: the replies to a pipelined group go out as a unit, in one write and segment,
      // not one each; held while the group's next command is already here, up to COALESCE_BYTES.
      this.heldReplies.push(wire);
      this.heldBytes += wire.length;
      const more = next === 'continue' && !this.readingData && this.lines.holdsLine;
      if (!more || this.heldBytes >= COALESCE_BYTES) this.releaseReplies();
    } else {
      this.releaseReplies();
      await this.stream(wire);
      if (this.closed) return;
    }
    if (next === 'start-tls') this.startTls();
    else if (next === 'close') this.close();
    else if (next === 'hang-up') this.hangUp();
    else this.dropIfNotReading();
  }

  /** The pieces go out in as few writes as they fit in, waiting for the client to read whenever the socket's buffer is full. */
  private async stream(pieces: AsyncIterable<Uint8Array>): Promise<void> {
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    for await (const piece of pieces) {
      if (this.closed) return;
      pending.push(piece);
      pendingBytes += piece.length;
      if (pendingBytes < COALESCE_BYTES) continue;
      const flushed = this.socket.write(Buffer.concat(pending, pendingBytes));
      pending = [];
      pendingBytes = 0;
      if (this.dropIfNotReading()) return;
      if (!flushed) await drained(this.socket);
    }
    if (pendingBytes > 0 && !this.closed) {
      this.socket.write(Buffer.concat(pending, pendingBytes));
      this.dropIfNotReading();
    }
  }

  /** Writes the replies held back, as one buffer (one write, whatever their number). */
  private releaseReplies(): void {
    const held = this.heldReplies;
    if (held.length === 0) return;
    this.heldReplies = [];
    this.heldBytes = 0;
    if (held.length === 1) this.socket.write(held[0]!);
    else if (held.every((reply) => typeof reply === 'string')) this.socket.write(held.join(''));
    else this.socket.write(Buffer.concat(held.map((reply) => (typeof reply === 'string' ? Buffer.from(reply) : reply))));
  }

  /** A client that lets our output pile up is dropped; true when it was. */
  private dropIfNotReading(): boolean {
    if (this.closed || this.socket.writableLength <= this.maxUnreadOutput) return false;
    this.protocol.report({ event: 'slow-reader-dropped' });
    this.closed = true;
    this.socket.destroy();
    return true;
  }

  /** Closes our side after the last reply; a client that never closes its side is cut after a while. */
  private close(): void {
    if (this.closed) return;
    this.releaseReplies();
    this.closed = true;
    this.socket.end();
    this.socket.setTimeout(LINGER_MS, () => this.socket.destroy());
  }

  /** Closes the connection once the last reply has been handed to the kernel (which still delivers it). */
  private hangUp(): void {
    if (this.closed) return;
    this.releaseReplies();
    this.closed = true;
    this.socket.end(() => this.socket.destroy());
    // A client that reads nothing keeps our reply (and the FIN behind it) from leaving; not for ever.
    this.socket.setTimeout(LINGER_MS, () => this.socket.destroy());
  }

  /**
   * RFC 3207 §4.2, RFC 2595 §4 and CVE-2011-0411: whatever the client sent after STARTTLS/STLS and before
   * the handshake is thrown away, and the session starts over once TLS is up.
   */
  private startTls(): void {
    this.upgrading = true;
    this.lines.clear();
    this.lineDeadline.clear();
    upgradeToTls(this.socket, this.settings.tls!, this.settings.tlsHandshakeTimeoutMs, {
      secure: (secure) => {
        this.socket = secure;
        this.protocol.tlsStarted();
        this.upgrading = false;
        this.attach(secure);
        secure.on('close', () => (this.closed = true));
        this.farewellIfAtRest();
      },
      failed: (err) => {
        this.protocol.report({ event: 'tls-handshake-failed', error: err.message });
        this.closed = true;
      },
    });
  }
}

/** Resolves when a socket's queued output has been taken by the peer ('drain'), or the socket closed. */
export function drained(socket: Socket): Promise<void> {
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

/** What a graceful shutdown needs of a connection. */
export interface DrainableConnection {
  drain(): void;
  destroy(): void;
  onClose(listener: () => void): void;
}

/** A listener's live connections, for a graceful shutdown. */
export class LiveConnections {
  private readonly live = new Set<DrainableConnection>();

  add(connection: DrainableConnection): void {
    this.live.add(connection);
    connection.onClose(() => this.live.delete(connection));
  }

  get size(): number {
    return this.live.size;
  }

  /** Drains every connection; after `graceMs`, cuts those still open. */
  async drain(graceMs: number): Promise<void> {
    for (const connection of this.live) connection.drain();
    const deadline = Date.now() + graceMs;
    while (this.live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const connection of this.live) connection.destroy();
  }
}
