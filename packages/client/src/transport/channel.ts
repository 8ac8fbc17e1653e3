import { Readable, type Duplex } from 'node:stream';
import {
  DATA_FRAME_BYTES,
  encodeFrame,
  FRAME,
  FRAME_HEADER_BYTES,
  frameHeader,
  FrameReader,
  MAX_ABORT_REASON_BYTES,
  messageOf,
  parseReconnectSpread,
  type FrameType,
  type Logger,
} from '@pushprox/shared';
import type { AbortToken } from '../scraping/abort-token.js';
import type { PushPayload } from './push.js';
import { PushError } from './push.js';

/** `reason` as an ABORT payload: UTF-8, cut to MAX_ABORT_REASON_BYTES at a character boundary. */
export function abortReason(reason: string): Buffer {
  const bytes = Buffer.from(reason, 'utf8');
  if (bytes.length <= MAX_ABORT_REASON_BYTES) return bytes;
  let end = MAX_ABORT_REASON_BYTES;
  // Back off continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** Frames are written, never changed: one END serves every push. */
const END_FRAME = encodeFrame(FRAME.END);

/**
 * Whole pushes up to this size (head and body) are copied into one buffer
 * with their DATA header and END; larger ones are written corked, uncopied.
 */
export const WHOLE_WRITE_BYTES = 64 * 1024;

/** DATA with `parts` (`size` bytes), then END, in one buffer. */
function wholeExchange(parts: readonly Buffer[], size: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + size + END_FRAME.length);
  out[0] = FRAME.DATA;
  out.writeUInt32BE(size, 1);
  let at = FRAME_HEADER_BYTES;
  for (const part of parts) at += part.copy(out, at);
  END_FRAME.copy(out, at);
  return out;
}

/** Where a job sends its pushed response when it came on a channel, instead of POST /push. */
export interface PushSink {
  /** Resolves once the whole payload is written; rejects (PushError) if the channel broke. */
  send(payload: PushPayload, signal: AbortToken): Promise<void>;
}

export interface ClientChannelHandlers {
  /** A scrape request arrived (a poll reply's body); the channel is busy until its push is sent. */
  onRequest(bytes: Buffer, channel: ClientChannel): void;
  /** The proxy sent ERROR (it refused a push, or the channel broke a rule); it closes the channel next. */
  onProxyError(text: string): void;
  /** The proxy sent RECONNECT: it is going away; reconnect within `spreadMs`. */
  onReconnect(spreadMs: number): void;
  /** The socket closed; `reason` is the proxy's ERROR text, or what broke. */
  onClosed(channel: ClientChannel, reason: string | undefined): void;
  readonly logger: Logger;
}

/**
 * The client's end of one channel (see FEATURE_CHANNEL in wire.ts). Invariant:
 * `busy` from a REQUEST until its push (DATA…END, or DATA…ABORT when the
 * push fails with the channel sound) is written or fails; the proxy sends the
 * next REQUEST only after END or ABORT, so a second REQUEST while busy is a
 * protocol breach and closes the channel.
 */
export class ClientChannel implements PushSink {
  readonly #socket: Duplex;
  readonly #handlers: ClientChannelHandlers;
  readonly #reader: FrameReader;
  #busy = false;
  #closed = false;
  #closing = false;
  /** The proxy sent ERROR: it reads no more frames and closes. */
  #refused = false;
  #reason: string | undefined;
  /** Date.now() of the last byte read (the pool's sweep closes a channel silent too long). */
  heardAt = Date.now();
  /** Date.now() when the channel last became idle. */
  idleSince = Date.now();

  constructor(socket: Duplex, handlers: ClientChannelHandlers) {
    this.#socket = socket;
    this.#handlers = handlers;
    this.#reader = new FrameReader(
      { onData: () => this.destroy('DATA from the proxy'), onFrame: (t, p) => this.#onFrame(t, p) },
      [FRAME.REQUEST, FRAME.PING, FRAME.PONG, FRAME.ERROR, FRAME.RECONNECT],
    );
    socket.on('data', (chunk: Buffer) => {
      this.heardAt = Date.now();
      try {
        this.#reader.push(chunk);
      } catch (err) {
        this.destroy(messageOf(err));
      }
    });
    socket.on('error', (err: Error) => {
      this.#reason ??= messageOf(err);
      socket.destroy();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#reader.stop();
      this.#handlers.onClosed(this, this.#reason);
    });
  }

  get busy(): boolean {
    return this.#busy;
  }

  /** CLOSE was sent: the channel is on its way out and takes part in no count. */
  get closing(): boolean {
    return this.#closing;
  }

  /** Asks the proxy to end the channel once any exchange on it is done. */
  requestClose(): void {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    this.#socket.write(encodeFrame(FRAME.CLOSE));
  }

  destroy(reason: string): void {
    this.#reason ??= reason;
    this.#socket.destroy();
  }

  async send(payload: PushPayload, signal: AbortToken): Promise<void> {
    try {
      if (this.#closed) throw this.#broken();
      const { body } = payload;
      const parts = Buffer.isBuffer(body) ? [body] : Array.isArray(body) ? body : undefined;
      const size = parts?.reduce((n, part) => n + part.length, 0) ?? Infinity;
      if (parts && size <= WHOLE_WRITE_BYTES) {
        // DATA and END in one buffer and one write(): a copy of a few KB costs less than
        // corked writes and their writev, whose JavaScript runs cold at one scrape every few seconds.
        this.#socket.write(wholeExchange(parts, size));
      } else if (parts && size <= DATA_FRAME_BYTES) {
        // DATA, the parts as they are and END leave in one writev: the body is not copied.
        const socket = this.#socket;
        socket.cork();
        socket.write(frameHeader(FRAME.DATA, size));
        for (const part of parts) socket.write(part);
        socket.write(END_FRAME);
        socket.uncork();
      } else {
        await this.#sendStream(parts ? Readable.from(parts) : (body as Readable), signal);
      }
      if (this.#closed) throw this.#broken();
    } catch (err) {
      // A push cut half-way leaves the proxy without its END. When the response itself broke
      // (the exporter's body) and the channel is sound, ABORT ends the exchange instead (the
      // proxy fails the scrape with the reason) and the channel carries on. A channel that is
      // broken, or backed up at the deadline (the proxy may have stopped reading), is replaced.
      if (signal.aborted || !this.#abortExchange(messageOf(err))) this.destroy(messageOf(err));
      throw err instanceof PushError ? err : new PushError(`push over the channel failed: ${messageOf(err)}`, undefined, { cause: err });
    } finally {
      this.#busy = false;
      this.idleSince = Date.now();
    }
  }

  async #sendStream(body: Readable, signal: AbortToken): Promise<void> {
    try {
      for await (const chunk of body) {
        const buf = chunk as Buffer;
        for (let at = 0; at < buf.length; at += DATA_FRAME_BYTES) {
          await this.#writeData(at === 0 && buf.length <= DATA_FRAME_BYTES ? buf : buf.subarray(at, at + DATA_FRAME_BYTES), signal);
        }
      }
    } finally {
      if (!body.destroyed) body.destroy();
    }
    this.#socket.write(END_FRAME);
  }

  async #writeData(bytes: Buffer, signal: AbortToken): Promise<void> {
    if (signal.aborted) throw signal.reason!;
    if (this.#closed) throw this.#broken();
    const socket = this.#socket;
    socket.cork();
    socket.write(frameHeader(FRAME.DATA, bytes.length));
    const ok = socket.write(bytes);
    socket.uncork();
    if (ok) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        socket.off('drain', done).off('close', done);
        signal.off('abort', done);
        resolve();
      };
      socket.once('drain', done).once('close', done);
      signal.once('abort', done);
    });
    if (signal.aborted) throw signal.reason!;
  }

  /**
   * Sends ABORT with `reason`; false if the channel cannot carry it: closed,
   * the proxy refused the push, or frames still wait to be written (a proxy
   * that stopped reading would never see the ABORT, and the channel would sit
   * idle but useless).
   */
  #abortExchange(reason: string): boolean {
    const socket = this.#socket;
    if (this.#closed || this.#refused || socket.destroyed || !socket.writable || socket.writableNeedDrain) return false;
    socket.write(encodeFrame(FRAME.ABORT, abortReason(reason)));
    return true;
  }

  #broken(): PushError {
    return new PushError(`channel closed${this.#reason ? `: ${this.#reason}` : ''}`);
  }

  #onFrame(type: FrameType, payload: Buffer): void {
    if (type === FRAME.PING) {
      this.#socket.write(encodeFrame(FRAME.PONG));
    } else if (type === FRAME.ERROR) {
      const text = payload.toString('utf8');
      this.#refused = true;
      this.#reason = `proxy: ${text}`;
      this.#handlers.onProxyError(text);
    } else if (type === FRAME.RECONNECT) {
      this.#handlers.onReconnect(parseReconnectSpread(payload.toString('latin1')));
    } else if (type === FRAME.REQUEST) {
      if (this.#busy) return this.destroy('a second scrape request came before the push of the first');
      this.#busy = true;
      // The payload may be a slice of a socket chunk: the request keeps a copy.
      this.#handlers.onRequest(Buffer.from(payload), this);
    }
  }
}
