import { PassThrough } from 'node:stream';
import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  CLUSTER_HEADERS as H,
  ERROR_CODES,
  FORWARD_CHUNK_BYTES,
  PushProxError,
  SUBJECT_PUSH,
  WireHeaders,
  messageOf,
  type Logger,
  type ResponseHead,
} from '@pushprox/shared';
import type { Coordinator } from '../../routing/coordinator.js';
import type { Responders } from '../../exchanges/scrape-handler.js';
import { answerPushed } from '../../exchanges/push-relay.js';
import { codeOf, isSubject, publishQuietly } from '../wire-checks.js';

export interface PushIntakeOptions {
  readonly nc: NatsConnection;
  readonly coordinator: Coordinator;
  readonly responders: Responders;
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  /** A push passed on is given up this long after it began (at least the longest scrape). */
  readonly longestMs: number;
}

/** The identity check was made by the proxy the client reached (push-forward.ts), against the FQDN we sent it. */
const CHECKED = { subject: 'a client checked by another proxy of the cluster', allows: () => true };

/**
 * The owning side of a push another proxy received: answers the lookup on
 * SUBJECT_PUSH only for a scrape it handed out and still waits for, then
 * takes the head and body and relays them like its own /push
 * (answerPushed), acknowledging each chunk once the relay's buffer took it.
 * Proxies that do not own the Id stay silent.
 */
export function servePushIntake(opts: PushIntakeOptions): Subscription {
  return opts.nc.subscribe(SUBJECT_PUSH, {
    callback: (err, msg) => {
      if (err) return;
      try {
        intake(msg, opts);
      } catch (e) {
        opts.logger.debug('Cluster: a passed-on push was not taken', { err: messageOf(e) });
      }
    },
  });
}

function intake(msg: Msg, opts: PushIntakeOptions): void {
  const { nc, coordinator } = opts;
  const id = msg.headers?.get(H.id) ?? '';
  const control = msg.headers?.get(H.control) ?? '';
  const fqdn = coordinator.fqdnOf(id);
  if (fqdn === undefined || !msg.reply || !isSubject(control)) return;
  const reply = (kind: string, data?: Uint8Array, set?: (m: ReturnType<typeof headers>) => void): void => {
    const m = headers();
    m.set(H.kind, kind);
    set?.(m);
    publishQuietly(() => nc.publish(control, data, { headers: m }));
  };
  const pipe = new PassThrough({ highWaterMark: FORWARD_CHUNK_BYTES });
  pipe.on('error', () => undefined);
  let nextSeq = 1;
  let lastSeq = 0;
  let waiting = false;
  let started = false;
  const finish = (err?: unknown): void => {
    clearTimeout(limit);
    sub.unsubscribe();
    if (err === undefined) reply('end');
    else reply('error', Buffer.from(messageOf(err)), (m) => m.set(H.code, codeOf(err)));
  };
  const limit = setTimeout(() => pipe.destroy(new PushProxError(ERROR_CODES.PUSH_ABORTED, 'the passed-on push took too long')), opts.longestMs);
  limit.unref();
  const stream = createInbox();
  const sub = nc.subscribe(stream, {
    callback: (e, m) => {
      if (e) return void pipe.destroy(e);
      const kind = m.headers?.get(H.kind);
      if (kind === 'head' && !started) {
        started = true;
        const head = parseHead(m.data);
        if (!head) return finish(new PushProxError(ERROR_CODES.WIRE_MALFORMED_START_LINE, 'the passed-on push has no valid head'));
        answerPushed(head, pipe, CHECKED, { coordinator, responders: opts.responders, logger: opts.logger, maxBodyBytes: opts.maxBodyBytes }).then(
          () => finish(),
          (err: unknown) => finish(err),
        );
      } else if (kind === 'data' && started) {
        const seq = Number(m.headers?.get(H.seq));
        if (seq !== nextSeq++) return void pipe.destroy(new PushProxError(ERROR_CODES.PUSH_ABORTED, `expected chunk ${nextSeq - 1}, got ${seq}`));
        lastSeq = seq;
        if (pipe.write(m.data)) {
          if (!waiting) reply('ack', undefined, (h) => h.set(H.seq, String(seq)));
        } else if (!waiting) {
          waiting = true;
          pipe.once('drain', () => {
            waiting = false;
            reply('ack', undefined, (h) => h.set(H.seq, String(lastSeq)));
          });
        }
      } else if (kind === 'end' && started) {
        pipe.end();
      } else if (kind === 'error') {
        pipe.destroy(new PushProxError(ERROR_CODES.PUSH_ABORTED, `the push broke on its way: ${m.string().slice(0, 1024)}`));
        if (!started) finish(new PushProxError(ERROR_CODES.PUSH_ABORTED, 'the push broke before its head'));
      }
    },
  });
  const found = headers();
  found.set(H.fqdn, fqdn);
  found.set(H.stream, stream);
  publishQuietly(() => msg.respond(undefined, { headers: found }));
}

function parseHead(data: Uint8Array): ResponseHead | undefined {
  try {
    const v = JSON.parse(Buffer.from(data).toString()) as { major: unknown; minor: unknown; status: unknown; reason: unknown; headers: unknown };
    const flat = v.headers;
    if (!Number.isInteger(v.major) || !Number.isInteger(v.minor) || !Number.isInteger(v.status) || typeof v.reason !== 'string') return undefined;
    if (!Array.isArray(flat) || flat.length % 2 !== 0 || flat.length > 2000 || !flat.every((x) => typeof x === 'string')) return undefined;
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i] as string, flat[i + 1] as string]);
    return { version: { major: v.major as number, minor: v.minor as number }, status: v.status as number, reason: v.reason, headers: new WireHeaders(pairs) };
  } catch {
    return undefined;
  }
}
