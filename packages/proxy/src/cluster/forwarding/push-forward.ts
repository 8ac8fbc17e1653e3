import type { Readable } from 'node:stream';
import { createInbox, errors, headers, type NatsConnection } from '@nats-io/transport-node';
import {
  CLUSTER_HEADERS as H,
  Credit,
  ERROR_CODES,
  FORWARD_CHUNK_BYTES,
  FORWARD_WINDOW,
  HEADER_ID,
  PushProxError,
  SUBJECT_PUSH,
  messageOf,
  type ResponseHead,
} from '@pushprox/shared';
import type { RemotePush } from '../../exchanges/push-relay.js';
import { forbidden, type ClientIdentity } from '../../auth/client-auth.js';
import { peerError } from '../wire-checks.js';

/** The owner of an Id answers at once; no answer within this means no proxy handed it out. */
export const PUSH_LOOKUP_MS = 500;
/** The owner acknowledges as Prometheus takes the body; this long without an ack or its verdict ends the push. */
export const PUSH_SILENCE_MS = 30_000;

/**
 * The receiving side of a push for an Id another proxy handed out: finds the
 * owner (SUBJECT_PUSH), checks the client may act for the FQDN the owner
 * routed the scrape to, and streams the parsed head and the body to it under
 * its credit. Resolves once the owner relayed the answer; rejects with its
 * error code (so the client gets the same status as from the owner itself).
 */
export class PushForwarder implements RemotePush {
  readonly #nc: () => NatsConnection | undefined;

  constructor(nc: () => NatsConnection | undefined) {
    this.#nc = nc;
  }

  async relay(head: ResponseHead, body: Readable | Buffer, identity: ClientIdentity): Promise<void> {
    const id = head.headers.get(HEADER_ID) ?? '';
    const unknown = () => new PushProxError(ERROR_CODES.PUSH_UNKNOWN_ID, `unknown scrape id ${JSON.stringify(id)} (no proxy of the cluster handed it out)`);
    const nc = this.#nc();
    if (!nc) throw unknown();
    const control = createInbox();
    const credit = new Credit(FORWARD_WINDOW);
    let verdict!: { resolve: () => void; reject: (e: Error) => void };
    const outcome = new Promise<void>((resolve, reject) => (verdict = { resolve, reject }));
    outcome.catch(() => undefined);
    let watchdog: NodeJS.Timeout | undefined;
    const fail = (err: Error): void => {
      credit.abort(err);
      verdict.reject(err);
    };
    const heard = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => fail(new PushProxError(ERROR_CODES.PUSH_ABORTED, `the proxy that owns scrape ${id} went silent`)), PUSH_SILENCE_MS);
      watchdog.unref();
    };
    const sub = nc.subscribe(control, {
      callback: (err, m) => {
        if (err) return fail(err);
        heard();
        const kind = m.headers?.get(H.kind);
        if (kind === 'ack') credit.ack(Number(m.headers?.get(H.seq)));
        else if (kind === 'end') verdict.resolve();
        else if (kind === 'error') fail(peerError(m.headers?.get(H.code), m.string(), 'owner'));
      },
    });
    try {
      const ask = headers();
      ask.set(H.id, id);
      ask.set(H.control, control);
      let reply;
      try {
        reply = await nc.request(SUBJECT_PUSH, undefined, { headers: ask, timeout: PUSH_LOOKUP_MS });
      } catch (err) {
        if (err instanceof errors.TimeoutError || err instanceof errors.RequestError || err instanceof errors.NoRespondersError) throw unknown();
        throw err;
      }
      const fqdn = reply.headers?.get(H.fqdn) ?? '';
      const stream = reply.headers?.get(H.stream) ?? '';
      if (!fqdn || !stream) throw unknown();
      // As for a local Id: a push answers only a scrape routed to an FQDN its sender may act for.
      if (!identity.allows(fqdn)) throw forbidden(identity, fqdn);
      heard();
      const send = (kind: string, data?: Uint8Array, seq?: number): void => {
        const m = headers();
        m.set(H.kind, kind);
        if (seq !== undefined) m.set(H.seq, String(seq));
        nc.publish(stream, data, { headers: m });
      };
      const h = { major: head.version.major, minor: head.version.minor, status: head.status, reason: head.reason, headers: head.headers.toRawArray() };
      send('head', Buffer.from(JSON.stringify(h)));
      try {
        const chunks = Buffer.isBuffer(body) ? [body] : body;
        for await (const chunk of chunks as AsyncIterable<Buffer> | Buffer[]) {
          for (let off = 0; off < chunk.length; off += FORWARD_CHUNK_BYTES) {
            const seq = await credit.next();
            send('data', chunk.subarray(off, off + FORWARD_CHUNK_BYTES), seq);
          }
        }
      } catch (err) {
        send('error', Buffer.from(messageOf(err)));
        throw err;
      }
      send('end');
      await outcome;
    } finally {
      clearTimeout(watchdog);
      sub.unsubscribe();
    }
  }
}
