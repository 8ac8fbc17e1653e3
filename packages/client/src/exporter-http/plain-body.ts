import { Readable } from 'node:stream';
import type { RelayedResponse } from './response.js';
import type { ResponseHead } from './response-parser.js';

/** Bytes held for a reader that is behind before the connection is paused. */
const QUEUE_MAX_BYTES = 64 * 1024;

/** What PlainBody needs of its connection: flow control. */
export interface FlowControl {
  pause(): void;
  resume(): void;
}

/**
 * A response body of plain-http.ts, fed by its exchange and read by the job.
 * The reader gets every byte that arrived before an error, then the error,
 * as from undici. Bytes are handed over only when the reader asks, and the
 * connection is paused while more than QUEUE_MAX_BYTES wait.
 *
 * Invariant: an error listener is attached for the body's whole life. The
 * body may break before the job reads it; its reader then learns that from
 * `errored` or the error it reads, and the process is never stopped by an
 * unhandled 'error'.
 */
export class PlainBody extends Readable {
  readonly #flow: FlowControl;
  readonly #onDrop: (err: Error | null) => void;
  readonly #queue: Buffer[] = [];
  #queued = 0;
  #wanted = false;
  #ending: 'open' | 'end' | Error = 'open';

  /** `onDrop`: the body was destroyed (by its reader, or after its error). */
  constructor(flow: FlowControl, onDrop: (err: Error | null) => void) {
    // One chunk at a time: _read is called only when the stream's own buffer is empty, so an
    // error is raised (destroy, which drops that buffer) only once the reader has every byte before it.
    super({ highWaterMark: 1 });
    this.#flow = flow;
    this.#onDrop = onDrop;
    this.on('error', () => undefined);
  }

  add(buf: Buffer): void {
    if (buf.length === 0) return;
    this.#queue.push(buf);
    this.#queued += buf.length;
    if (this.#queued > QUEUE_MAX_BYTES) this.#flow.pause();
    this.#offer();
  }

  /** The last byte has been added. */
  finish(): void {
    if (this.#ending === 'open') this.#ending = 'end';
    this.#offer();
  }

  /** The body broke: the reader gets `err` after the bytes already added. */
  break(err: Error): void {
    if (this.#ending === 'open') this.#ending = err;
    this.#offer();
  }

  override _read(): void {
    this.#wanted = true;
    this.#offer();
    if (this.#queued === 0 && this.#ending === 'open') this.#flow.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#queue.length = 0;
    this.#queued = 0;
    this.#onDrop(err);
    cb(err);
  }

  #offer(): void {
    if (!this.#wanted || this.destroyed) return;
    const next = this.#queue.shift();
    if (next !== undefined) {
      this.#queued -= next.length;
      this.#wanted = false;
      this.push(next);
    } else if (this.#ending === 'end') {
      this.#wanted = false;
      this.push(null);
    } else if (this.#ending instanceof Error) {
      this.#wanted = false;
      this.destroy(this.#ending);
    }
  }
}

const NO_FLOW: FlowControl = { pause: () => undefined, resume: () => undefined };

/** A response read whole with its head; its `body` stream is made only if someone asks for it. */
export function wholeResponse(head: ResponseHead, whole: Buffer): RelayedResponse {
  let body: PlainBody | undefined;
  return {
    statusCode: head.status,
    statusText: head.statusText,
    headers: head.headers,
    whole,
    get body(): PlainBody {
      if (body === undefined) {
        body = new PlainBody(NO_FLOW, () => undefined);
        body.add(whole);
        body.finish();
      }
      return body;
    },
  };
}
