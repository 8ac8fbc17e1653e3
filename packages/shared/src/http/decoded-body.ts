/**
 * The decoded body of a streamed message (see stream.ts for the invariants):
 * a Readable that pulls from its source only as fast as it is read.
 */

import { Readable } from 'node:stream';
import { ERROR_CODES, WireError } from '../errors.js';
import type { BodyDecoder } from './body-decoder.js';

function trailingData(bytes: number): WireError {
  return new WireError(ERROR_CODES.WIRE_TRAILING_DATA, `${bytes} or more bytes follow the end of the message`);
}

/** What a DecodedBody needs from the reader that owns the source. */
export interface SourceControl {
  pause(): void;
  resume(): void;
  /** Stops listening to the source; idempotent. */
  detach(): void;
  destroySource(): void;
}

export class DecodedBody extends Readable {
  readonly #source: SourceControl;
  readonly #decoder: BodyDecoder;
  /** Set by the first _read: someone consumes the body and can receive its errors. */
  #started = false;
  #pending: unknown;
  /** The source is no longer ours to read: it ended, failed, or was given up. */
  #finished = false;

  constructor(source: SourceControl, decoder: BodyDecoder) {
    super();
    this.#source = source;
    this.#decoder = decoder;
  }

  feed(chunk: Buffer): void {
    if (this.#finished) return;
    try {
      if (this.#decoder.done) {
        if (chunk.length > 0) throw trailingData(chunk.length);
        return;
      }
      const pieces: Buffer[] = [];
      const end = this.#decoder.write(chunk, 0, pieces);
      let more = true;
      for (const piece of pieces) more = this.push(piece) && more;
      if (end < chunk.length) throw trailingData(chunk.length - end);
      if (!more) this.#source.pause();
    } catch (err) {
      this.fail(err);
    }
  }

  sourceEnded(): void {
    if (this.#finished) return;
    try {
      this.#decoder.end();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.#finished = true;
    this.#source.detach();
    this.push(null);
  }

  fail(err: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#source.detach();
    if (this.#started) this.destroy(err as Error);
    else this.#pending = err ?? new Error('body failed');
  }

  override _read(): void {
    this.#started = true;
    if (this.#pending !== undefined) {
      const err = this.#pending;
      this.#pending = undefined;
      this.destroy(err as Error);
    } else if (!this.#finished) {
      this.#source.resume();
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#finished) {
      this.#finished = true;
      this.#source.detach();
      this.#source.destroySource();
    }
    callback(err);
  }
}
