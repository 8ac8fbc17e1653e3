import type { ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { ERROR_CODES, FORWARD_CHUNK_BYTES, HEADER_ID, PushProxError, readResponse, relay } from '@pushprox/shared';
import { relayHeaders } from '../../exchanges/relay.js';

/**
 * The answer of a client on NATS directly: the bytes a /push body would carry,
 * in `raw` chunks. They are parsed with the strict codec as they arrive (the
 * client is as untrusted as one that pushes over HTTP) and the body relayed to
 * Prometheus with backpressure. Invariant: a chunk is reported written only
 * once the parser's buffer took it without a pending 'drain', so this hop
 * holds at most the credit window plus one buffer of the body.
 */
export class RawAnswer {
  readonly #pipe = new PassThrough({ highWaterMark: FORWARD_CHUNK_BYTES });
  /** Settles once the answer was relayed whole, or with why it could not be. */
  readonly done: Promise<void>;
  #waiting = false;
  #lastSeq = 0;

  constructor(res: ServerResponse, id: string, maxBodyBytes: number, onWritten: (seq: number) => void) {
    this.#onWritten = onWritten;
    this.#pipe.on('error', () => undefined);
    this.done = (async () => {
      const { head, body } = await readResponse(this.#pipe, { maxBodyBytes });
      if (head.status < 200) {
        throw new PushProxError(ERROR_CODES.WIRE_MALFORMED_START_LINE, `expected the pushed response to have a final status (200 to 999), got ${head.status}`);
      }
      const got = head.headers.get(HEADER_ID);
      if (got !== id) {
        throw new PushProxError(ERROR_CODES.PUSH_UNKNOWN_ID, `expected the pushed response to carry ${HEADER_ID}: ${id}, got ${JSON.stringify(got ?? null)}`);
      }
      res.writeHead(head.status, head.reason, relayHeaders(head.headers));
      await relay(body, res);
    })();
    // Nothing may wait on a rejection nobody reads: the caller awaits `done`.
    this.done.catch(() => undefined);
  }

  readonly #onWritten: (seq: number) => void;

  write(seq: number, chunk: Uint8Array): void {
    this.#lastSeq = seq;
    if (this.#pipe.write(chunk)) {
      if (!this.#waiting) this.#onWritten(seq);
      return;
    }
    if (this.#waiting) return;
    this.#waiting = true;
    this.#pipe.once('drain', () => {
      this.#waiting = false;
      this.#onWritten(this.#lastSeq);
    });
  }

  end(): void {
    this.#pipe.end();
  }

  abort(err: Error): void {
    this.#pipe.destroy(err);
  }
}
