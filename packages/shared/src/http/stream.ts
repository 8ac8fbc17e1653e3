/**
 * Streaming parsing of one message from a Node Readable (e.g. the
 * IncomingMessage of a /push): the head is decoded incrementally and the
 * promise settles with it; the body is a Readable of decoded bytes.
 *
 * Invariants:
 * - Backpressure: the source is paused whenever `body`'s buffer is full and
 *   resumed only when `body` is read, so at most one source chunk beyond
 *   `body`'s highWaterMark is held.
 * - Head memory is bounded by maxHeadBytes (see HeadDecoder).
 * - `body` ends only when the source has ended: bytes after the framed end
 *   are WIRE_TRAILING_DATA, an early end is WIRE_TRUNCATED. Its last piece
 *   is held back until then, so a relay never completes a Content-Length
 *   body for a message that turns out to carry a smuggled second one.
 * - Ownership: destroying `body` (or aborting `signal`) destroys the source.
 *   After a decoding error the source is merely left paused and unlistened,
 *   so the caller can still answer on its connection.
 * - `body` pushes and emits nothing before it is first read, so an error
 *   found while the head is decoded cannot go unhandled.
 */

import type { Readable } from 'node:stream';
import { ERROR_CODES, WireError } from '../protocol/errors.js';
import { BodyDecoder } from './body-decoder.js';
import { DecodedBody, type SourceControl } from './decoded-body.js';
import { HeadDecoder } from './decoder.js';
import { requestFraming, responseFraming } from './framing.js';
import { REQUEST_LINE, STATUS_LINE, type StartLineSyntax } from './start-line.js';
import type { BodyFraming, ParseLimits, RequestHead, ResponseHead } from './types.js';

export interface StreamedRequest {
  readonly head: RequestHead;
  readonly framing: BodyFraming;
  /** Decoded (de-chunked) body bytes. */
  readonly body: Readable;
}

export interface StreamedResponse {
  readonly head: ResponseHead;
  readonly framing: BodyFraming;
  /** Decoded (de-chunked) body bytes. */
  readonly body: Readable;
}

interface Streamed<H> {
  readonly head: H;
  readonly framing: BodyFraming;
  readonly body: Readable;
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk));
}

class MessageReader<H> implements SourceControl {
  readonly #source: Readable;
  readonly #head: HeadDecoder<H>;
  readonly #framingOf: (head: H) => BodyFraming;
  readonly #limits: ParseLimits | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #resolve: (value: Streamed<H>) => void;
  readonly #reject: (reason: unknown) => void;
  #body: DecodedBody | undefined;
  #attached = false;

  constructor(
    source: Readable,
    head: HeadDecoder<H>,
    framingOf: (head: H) => BodyFraming,
    limits: ParseLimits | undefined,
    signal: AbortSignal | undefined,
    settle: { resolve: (value: Streamed<H>) => void; reject: (reason: unknown) => void },
  ) {
    this.#source = source;
    this.#head = head;
    this.#framingOf = framingOf;
    this.#limits = limits;
    this.#signal = signal;
    this.#resolve = settle.resolve;
    this.#reject = settle.reject;
  }

  start(): void {
    const s = this.#source;
    if (this.#signal?.aborted) return this.#onAbort();
    s.on('data', this.#onData);
    s.on('end', this.#onEnd);
    s.on('error', this.#onError);
    s.on('close', this.#onClose);
    this.#signal?.addEventListener('abort', this.#onAbort);
    this.#attached = true;
    // A source that already finished will not emit again.
    if (s.readableEnded) this.#onEnd();
    else if (s.errored) this.#onError(s.errored);
    else if (s.destroyed) this.#onClose();
    else s.resume();
  }

  pause(): void {
    this.#source.pause();
  }

  resume(): void {
    if (this.#attached) this.#source.resume();
  }

  detach(): void {
    if (!this.#attached) return;
    this.#attached = false;
    const s = this.#source;
    // Without a 'data' listener a flowing source would drop what it reads.
    s.pause();
    s.off('data', this.#onData);
    s.off('end', this.#onEnd);
    s.off('error', this.#onError);
    s.off('close', this.#onClose);
    this.#signal?.removeEventListener('abort', this.#onAbort);
  }

  destroySource(): void {
    this.#source.destroy();
  }

  #failHead(err: unknown): void {
    this.detach();
    this.#reject(err);
  }

  readonly #onData = (chunk: unknown): void => {
    const buf = toBuffer(chunk);
    if (this.#body) return this.#body.feed(buf);
    let offset: number;
    let decoder: BodyDecoder;
    let framing: BodyFraming;
    try {
      offset = this.#head.write(buf, 0);
      if (!this.#head.done) return;
      framing = this.#framingOf(this.#head.head);
      decoder = new BodyDecoder(framing, this.#limits);
    } catch (err) {
      return this.#failHead(err);
    }
    this.#source.pause();
    this.#body = new DecodedBody(this, decoder, buf.subarray(offset));
    this.#resolve({ head: this.#head.head, framing, body: this.#body });
  };

  readonly #onEnd = (): void => {
    if (this.#body) return this.#body.sourceEnded();
    try {
      this.#head.end();
    } catch (err) {
      this.#failHead(err);
    }
  };

  readonly #onError = (err: Error): void => {
    if (this.#body) this.#body.fail(err);
    else this.#failHead(err);
  };

  readonly #onClose = (): void => {
    if (this.#source.readableEnded) return;
    this.#onError(new WireError(ERROR_CODES.WIRE_TRUNCATED, 'source closed before the message ended'));
  };

  readonly #onAbort = (): void => {
    const reason: unknown = this.#signal?.reason ?? new Error('aborted');
    if (this.#body) this.#body.fail(reason);
    else this.#failHead(reason);
    this.destroySource();
  };
}

function readMessage<H>(
  source: Readable,
  syntax: StartLineSyntax<H>,
  framingOf: (head: H) => BodyFraming,
  limits: ParseLimits | undefined,
  signal: AbortSignal | undefined,
): Promise<Streamed<H>> {
  return new Promise((resolve, reject) => {
    new MessageReader(source, new HeadDecoder(syntax, limits), framingOf, limits, signal, { resolve, reject }).start();
  });
}

export function readRequest(source: Readable, limits?: ParseLimits, opts?: { signal?: AbortSignal }): Promise<StreamedRequest> {
  return readMessage(source, REQUEST_LINE, requestFraming, limits, opts?.signal);
}

/** `requestMethod` is the method of the request this answers (HEAD responses have no body). */
export function readResponse(
  source: Readable,
  limits?: ParseLimits,
  opts?: { requestMethod?: string; signal?: AbortSignal },
): Promise<StreamedResponse> {
  return readMessage(source, STATUS_LINE, (head) => responseFraming(head, opts?.requestMethod), limits, opts?.signal);
}
