import { ERROR_CODES, PushProxError } from './errors.js';

/**
 * Frames of a channel (see FEATURE_CHANNEL in wire.ts): a 1-byte type, a
 * 4-byte big-endian payload length, then the payload.
 *
 * - REQUEST, proxy → client: a scrape request, the bytes of a poll reply's body.
 * - DATA, client → proxy: the next bytes of the pushed response (a /push body);
 *   a response may span any number of DATA frames.
 * - END, client → proxy: the pushed response is complete.
 * - PING, either way: the other side answers PONG at once.
 * - ERROR, proxy → client: the push was refused (UTF-8 reason); the proxy then closes.
 * - CLOSE, client → proxy: end the channel once any exchange on it is done.
 * - ABORT, client → proxy: the pushed response cannot be completed (UTF-8
 *   reason, e.g. the exporter's body broke); it ends the exchange in place of
 *   END, the proxy fails the scrape with the reason and the channel carries
 *   the next scrape. A proxy that predates ABORT treats it as a protocol
 *   breach and closes the channel, as it would have had the client cut it.
 * - RECONNECT, proxy → client: the proxy is going away (shutdown or restart);
 *   the payload is a spread in ms as ASCII digits (HEADER_RECONNECT's value).
 *   The client opens no channel to this proxy again and reconnects after a
 *   random wait within the spread; the proxy ends the channel once the
 *   exchange on it (if any) is done, as after CLOSE. A client of ours that
 *   predates RECONNECT treats it as a protocol breach and closes the channel,
 *   as it would on the proxy's exit.
 *
 * Invariant: a channel carries one scrape at a time. DATA, END and ABORT are
 * only valid between a REQUEST and its END or ABORT; CLOSE, PONG and RECONNECT at any time.
 */
export const FRAME = Object.freeze({
  REQUEST: 1,
  DATA: 2,
  END: 3,
  PING: 4,
  PONG: 5,
  ERROR: 6,
  CLOSE: 7,
  ABORT: 8,
  RECONNECT: 9,
} as const);
export type FrameType = (typeof FRAME)[keyof typeof FRAME];

export const FRAME_HEADER_BYTES = 5;
/** Largest payload of any frame but DATA (a scrape request is at most a poll reply's 1 MiB). */
export const MAX_CONTROL_FRAME_BYTES = 1024 * 1024;
/** Largest DATA payload accepted; writers split at DATA_FRAME_BYTES. */
export const MAX_DATA_FRAME_BYTES = 16 * 1024 * 1024;
/** Longest ABORT reason a writer sends and a reader keeps (bytes of UTF-8; longer ones are cut). */
export const MAX_ABORT_REASON_BYTES = 1024;
/** Size a writer splits pushed bodies at. */
export const DATA_FRAME_BYTES = 256 * 1024;

const EMPTY = Buffer.alloc(0);

/** Header and payload in one buffer (one write); payloads are small (control frames, small bodies). */
export function encodeFrame(type: FrameType, payload: Buffer = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out[0] = type;
  out.writeUInt32BE(payload.length, 1);
  payload.copy(out, FRAME_HEADER_BYTES);
  return out;
}

/** A frame header alone, to write before a large payload. */
export function frameHeader(type: FrameType, length: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  out[0] = type;
  out.writeUInt32BE(length, 1);
  return out;
}

export interface FrameHandler {
  /** The next bytes of DATA, in order; frames may arrive in any number of pieces. */
  onData(bytes: Buffer): void;
  /** Any other frame, whole. `payload` may share memory with the chunk read: copy to keep it. */
  onFrame(type: FrameType, payload: Buffer): void;
}

const NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(FRAME).map(([k, v]) => [v, k]));

function protocolError(message: string): PushProxError {
  return new PushProxError(ERROR_CODES.CHANNEL_PROTOCOL, `channel: ${message}`);
}

/**
 * Parses the frames of one direction as chunks arrive. DATA payloads are
 * passed on as slices of the chunks read (no copy); other payloads are
 * passed whole. push() throws CHANNEL_PROTOCOL on a frame type this side does
 * not accept or an oversized frame; after that, or after stop(), it ignores input.
 */
export class FrameReader {
  readonly #handler: FrameHandler;
  readonly #accept: ReadonlySet<number>;
  readonly #head = Buffer.alloc(FRAME_HEADER_BYTES);
  #headLen = 0;
  #type: FrameType = FRAME.PING;
  /** Payload bytes still to come of the frame being read; -1 between frames. */
  #left = -1;
  #payload: Buffer | undefined;
  #at = 0;
  #stopped = false;

  constructor(handler: FrameHandler, accept: readonly FrameType[]) {
    this.#handler = handler;
    this.#accept = new Set(accept);
  }

  stop(): void {
    this.#stopped = true;
  }

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.#stopped) {
      if (this.#left < 0) {
        if (this.#headLen === 0 && chunk.length - off >= FRAME_HEADER_BYTES) {
          this.#begin(chunk[off]!, chunk.readUInt32BE(off + 1));
          off += FRAME_HEADER_BYTES;
        } else {
          const take = Math.min(FRAME_HEADER_BYTES - this.#headLen, chunk.length - off);
          chunk.copy(this.#head, this.#headLen, off, off + take);
          this.#headLen += take;
          off += take;
          if (this.#headLen < FRAME_HEADER_BYTES) return;
          this.#headLen = 0;
          this.#begin(this.#head[0]!, this.#head.readUInt32BE(1));
        }
        continue;
      }
      const take = Math.min(this.#left, chunk.length - off);
      if (this.#type === FRAME.DATA) {
        this.#left -= take;
        const bytes = chunk.subarray(off, off + take);
        off += take;
        if (this.#left === 0) this.#left = -1;
        this.#handler.onData(bytes);
      } else if (this.#payload === undefined && take === this.#left) {
        // The whole payload is in this chunk: no copy.
        const payload = chunk.subarray(off, off + take);
        off += take;
        this.#left = -1;
        this.#handler.onFrame(this.#type, payload);
      } else {
        this.#payload ??= Buffer.allocUnsafe(this.#left);
        chunk.copy(this.#payload, this.#at, off, off + take);
        this.#at += take;
        this.#left -= take;
        off += take;
        if (this.#left === 0) {
          const payload = this.#payload;
          this.#payload = undefined;
          this.#at = 0;
          this.#left = -1;
          this.#handler.onFrame(this.#type, payload);
        }
      }
    }
  }

  #begin(type: number, length: number): void {
    if (!this.#accept.has(type)) {
      this.#stopped = true;
      const expected = [...this.#accept].map((t) => NAMES[t]).join(', ');
      throw protocolError(`expected a frame of type ${expected}, got type ${NAMES[type] ?? type}`);
    }
    const max = type === FRAME.DATA ? MAX_DATA_FRAME_BYTES : MAX_CONTROL_FRAME_BYTES;
    if (length > max) {
      this.#stopped = true;
      throw protocolError(`${NAMES[type]} frame of ${length} bytes exceeds the limit of ${max} bytes`);
    }
    this.#type = type as FrameType;
    if (length > 0) {
      this.#left = length;
    } else if (type !== FRAME.DATA) {
      this.#handler.onFrame(this.#type, EMPTY);
    }
  }
}
