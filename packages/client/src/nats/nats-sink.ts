import { Readable } from 'node:stream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { CLUSTER_HEADERS as H, Credit, ERROR_CODES, FORWARD_CHUNK_BYTES, PushProxError, messageOf } from '@pushprox/shared';
import type { PushSink } from '../transport/channel.js';
import type { PushPayload } from '../transport/push.js';
import type { AbortToken } from '../scraping/abort-token.js';

/**
 * Where a scrape taken from NATS is answered: the bytes a /push body would
 * carry, as `raw` chunks of at most FORWARD_CHUNK_BYTES to the proxy's stream
 * subject, under its credit (acks on our control subject), then `end`.
 * Invariant: the exporter's body is read only as fast as the proxy
 * acknowledges; nothing here buffers more than one chunk.
 */
export class NatsPushSink implements PushSink {
  readonly #nc: NatsConnection;
  readonly #stream: string;
  readonly credit: Credit;
  /** `end` or `error` was sent: nothing more goes to the stream. */
  #ended = false;

  constructor(nc: NatsConnection, stream: string, credit: Credit) {
    this.#nc = nc;
    this.#stream = stream;
    this.credit = credit;
  }

  async send(payload: PushPayload, signal: AbortToken): Promise<void> {
    try {
      await this.#send(payload, signal);
    } catch (err) {
      this.fail(messageOf(err));
      throw err;
    }
  }

  async #send(payload: PushPayload, signal: AbortToken): Promise<void> {
    const { body } = payload;
    const source = Buffer.isBuffer(body) ? [body] : Array.isArray(body) ? body : (body as Readable);
    for await (const chunk of source as AsyncIterable<Buffer> | Buffer[]) {
      for (let off = 0; off < chunk.length; off += FORWARD_CHUNK_BYTES) {
        if (signal.aborted) throw new PushProxError(ERROR_CODES.PUSH_ABORTED, 'the scrape was aborted');
        const seq = await this.credit.next();
        this.#publish('raw', chunk.subarray(off, off + FORWARD_CHUNK_BYTES), String(seq));
      }
    }
    this.#ended = true;
    this.#publish('end');
  }

  /** The answer cannot be completed (the exporter's body broke): tells the proxy instead of `end`. */
  fail(message: string): void {
    if (this.#ended) return;
    this.#ended = true;
    const m = headers();
    m.set(H.kind, 'error');
    m.set(H.code, ERROR_CODES.PUSH_ABORTED);
    this.#nc.publish(this.#stream, Buffer.from(message), { headers: m });
  }

  #publish(kind: string, data?: Uint8Array, seq?: string): void {
    const m = headers();
    m.set(H.kind, kind);
    if (seq) m.set(H.seq, seq);
    this.#nc.publish(this.#stream, data, { headers: m });
  }
}
