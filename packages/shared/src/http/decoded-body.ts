/**
 * The decoded body of a streamed message (see stream.ts for the invariants):
 * a Readable that pulls from its source only as fast as it is read.
 */

import { Readable } from 'node:stream';
import { ERROR_CODES, WireError } from '../protocol/errors.js';
import type { BodyDecoder } from './body-decoder.js';

function trailingData(bytes: number): WireError {
  return new WireError(ERROR_CODES.WIRE_TRAILING_DATA, `${bytes} or more bytes follow the end of the message`);
}

/** What a DecodedBody needs from the reader that owns the source. */
export interface SourceControl {
  pause(): void;
  resume(): void;
  /** Stops listening to the source and leaves it paused; idempotent. */
  detach(): void;
  destroySource(): void;
}

/**
 * Until the first _read (a consumer is reading, with its error handling in
 * place), nothing is pushed or emitted: bytes that came with the head, and an
 * end or error of the source, are only recorded. This keeps an error found
 * before the caller got `body` from being emitted with nobody listening.
 */
export class DecodedBody extends Readable {
  readonly #source: SourceControl;
  readonly #decoder: BodyDecoder;
  #started = false;
  /** Before the start: body bytes that arrived with the head. */
  #backlog: Buffer | undefined;
  /** Before the start: the source ended (its bytes are all in the backlog). */
  #endedEarly = false;
  /** Before the start: the failure to report on the first read. */
  #earlyError: unknown;
  /** The source is no longer ours to read: it ended, failed, or was given up. */
  #finished = false;
  /**
   * The last decoded piece, held until the source has ended: a relay that
   * forwards a Content-Length body must not complete it downstream before
   * bytes after the framed end (a smuggled second message) are refused.
   */
  #last: Buffer | undefined;

  constructor(source: SourceControl, decoder: BodyDecoder, backlog?: Buffer) {
    super();
    this.#source = source;
    this.#decoder = decoder;
    if (backlog !== undefined && backlog.length > 0) this.#backlog = backlog;
  }

  feed(chunk: Buffer): void {
    if (this.#finished) return;
    if (!this.#started) {
      this.#backlog = this.#backlog === undefined ? chunk : Buffer.concat([this.#backlog, chunk]);
      return;
    }
    try {
      if (this.#decoder.done) {
        if (chunk.length > 0) throw trailingData(chunk.length);
        return;
      }
      const pieces: Buffer[] = [];
      const end = this.#decoder.write(chunk, 0, pieces);
      if (end < chunk.length) throw trailingData(chunk.length - end);
      if (this.#decoder.done) this.#last = pieces.pop();
      let more = true;
      for (const piece of pieces) more = this.push(piece) && more;
      if (!more) this.#source.pause();
    } catch (err) {
      this.fail(err);
    }
  }

  sourceEnded(): void {
    if (this.#finished) return;
    if (!this.#started) {
      this.#endedEarly = true;
      return;
    }
    try {
      this.#decoder.end();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.#finished = true;
    this.#source.detach();
    const last = this.#last;
    this.#last = undefined;
    if (last !== undefined) this.push(last);
    this.push(null);
  }

  fail(err: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#last = undefined;
    this.#source.detach();
    const error = err ?? new Error('body failed');
    if (this.#started) this.destroy(error as Error);
    else this.#earlyError = error;
  }

  override _read(): void {
    if (!this.#started) {
      this.#started = true;
      if (this.#earlyError !== undefined) return void this.destroy(this.#earlyError as Error);
      const backlog = this.#backlog;
      this.#backlog = undefined;
      if (backlog !== undefined) this.feed(backlog);
      if (this.#endedEarly) this.sourceEnded();
    }
    if (!this.#finished) this.#source.resume();
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
