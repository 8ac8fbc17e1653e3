import { headers, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { InboxMux } from './inbox-mux.js';
import {
  CLUSTER_HEADERS as H,
  Credit,
  ERROR_CODES,
  FORWARD_CHUNK_BYTES,
  FORWARD_WINDOW,
  PushProxError,
  forwardSubject,
  messageOf,
  type Logger,
} from '@pushprox/shared';
import type { Coordinator } from '../../routing/coordinator.js';
import type { PushedResponse, Responders } from '../../exchanges/scrape-handler.js';
import { relayHeaders } from '../../exchanges/relay.js';

import { codeOf, isSubject, publishQuietly } from '../wire-checks.js';

export interface ForwardServerOptions {
  readonly nc: NatsConnection;
  readonly selfId: string;
  readonly coordinator: Coordinator;
  readonly responders: Responders;
  readonly logger: Logger;
  /** --scrape.max-timeout: a forwarded deadline is clamped to it. */
  readonly scrapeMaxTimeoutMs: number;
  /** Largest serialized scrape request accepted from a peer. */
  readonly maxRequestBytes: number;
  /** Called once per forwarded scrape this proxy answered, with the status sent back. */
  readonly onServed: (status: number) => void;
}

/**
 * The holder's side of a forwarded scrape: takes it from
 * `pushprox.cluster.fwd.<own id>`, routes it to the local client like a
 * scrape from Prometheus, and streams the pushed answer back in chunks under
 * the requester's credit (Credit): a slow requester stalls the push, it never
 * grows a buffer here.
 */
export function serveForwards(opts: ForwardServerOptions): Subscription {
  const { nc, logger } = opts;
  // Where requesters send acks and cancels: one subscription for every scrape served.
  const controls = new InboxMux();
  return nc.subscribe(forwardSubject(opts.selfId), {
    callback: (err, msg) => {
      if (err) return void logger.warn('Cluster: forward subscription failed', { err: messageOf(err) });
      try {
        serveOne(msg, opts, controls);
      } catch (e) {
        replyError(msg, e);
      }
    },
  });
}

function serveOne(msg: Msg, opts: ForwardServerOptions, controls: InboxMux): void {
  const { nc, coordinator, responders, logger } = opts;
  const h = msg.headers;
  const fqdn = h?.get(H.fqdn) ?? '';
  const id = h?.get(H.id) ?? '';
  const stream = h?.get(H.stream) ?? '';
  const timeoutMs = Math.min(Number(h?.get(H.timeoutMs)), opts.scrapeMaxTimeoutMs);
  if (!msg.reply || !fqdn || !/^[A-Za-z0-9-]{1,64}$/.test(id) || !isSubject(stream) || !(timeoutMs > 0)) {
    throw new PushProxError(
      ERROR_CODES.SCRAPE_BAD_TARGET,
      `expected a forwarded scrape with a reply subject and ${H.fqdn}, ${H.id}, ${H.stream} and ${H.timeoutMs} headers, got ${JSON.stringify([...(h?.keys() ?? [])])}`,
    );
  }
  if (msg.data.length > opts.maxRequestBytes) {
    throw new PushProxError(ERROR_CODES.SCRAPE_BAD_TARGET, `expected a scrape request of at most ${opts.maxRequestBytes} bytes, got ${msg.data.length}`);
  }
  const credit = new Credit(FORWARD_WINDOW);
  let control: { readonly subject: string; close(): void } | undefined;
  let done = false;
  const finish = (): void => {
    done = true;
    control?.close();
  };
  const send = (kind: string, data?: Uint8Array, set?: (m: MsgHdrs) => void): void => {
    const m = headers();
    m.set(H.kind, kind);
    set?.(m);
    publishQuietly(() => nc.publish(stream, data, { headers: m }));
  };
  // Throws SCRAPE_UNKNOWN_CLIENT if the client left: the requester gets the code in the open reply.
  const ticket = coordinator.scrape({ id, fqdn, request: Buffer.from(msg.data) }, timeoutMs, {
    fail: (err) => {
      responders.delete(id);
      credit.abort(err);
      if (done) return;
      send('error', Buffer.from(err.message), (m) => m.set(H.code, err.code));
      opts.onServed(err.status);
      finish();
    },
  });
  control = controls.open(nc, (c) => {
    const kind = c.headers?.get(H.kind);
    if (kind === 'ack') credit.ack(Number(c.headers?.get(H.seq)));
    else if (kind === 'cancel') {
      responders.delete(id);
      ticket.cancel();
      credit.abort(new PushProxError(ERROR_CODES.SCRAPE_CANCELLED, 'the requesting proxy cancelled the scrape'));
      finish();
    }
  });
  const controlSubject = control.subject;
  responders.set(id, async (pushed: PushedResponse) => {
    responders.delete(id);
    try {
      await streamBack(pushed, credit, send);
      opts.onServed(pushed.head.status);
      finish();
    } finally {
      coordinator.complete(id);
    }
  });
  const open = headers();
  open.set(H.control, controlSubject);
  publishQuietly(() => msg.respond(undefined, { headers: open }));
  if (logger.debugEnabled) logger.debug('Cluster: serving a forwarded scrape', { scrape_id: id, fqdn });
}

async function streamBack(
  { head, body }: PushedResponse,
  credit: Credit,
  send: (kind: string, data?: Uint8Array, set?: (m: MsgHdrs) => void) => void,
): Promise<void> {
  const h = JSON.stringify({ status: head.status, reason: head.reason, headers: relayHeaders(head.headers) });
  // A small answer already whole (most scrapes) goes as one message: head, body and end.
  if (Buffer.isBuffer(body) && body.length <= FORWARD_CHUNK_BYTES) return send('whole', body, (m) => m.set(H.head, h));
  send('head', Buffer.from(h));
  const sendChunk = async (chunk: Buffer): Promise<void> => {
    for (let off = 0; off < chunk.length; off += FORWARD_CHUNK_BYTES) {
      const seq = await credit.next();
      send('data', chunk.subarray(off, off + FORWARD_CHUNK_BYTES), (m) => m.set(H.seq, String(seq)));
    }
  };
  if (Buffer.isBuffer(body)) await sendChunk(body);
  // Leaving the loop by a throw (abort) destroys the body, which refuses the rest of the push.
  else for await (const chunk of body) await sendChunk(chunk as Buffer);
  if (credit.aborted) throw credit.aborted;
  send('end');
}

function replyError(msg: Msg, err: unknown): void {
  if (!msg.reply) return;
  const m = headers();
  m.set(H.code, codeOf(err));
  publishQuietly(() => msg.respond(Buffer.from(messageOf(err)), { headers: m }));
}
