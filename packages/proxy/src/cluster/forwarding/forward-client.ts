import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { errors, headers, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { InboxMux } from './inbox-mux.js';
import { CLUSTER_HEADERS as H, ERROR_CODES, PushProxError, clientSubject, forwardSubject, messageOf } from '@pushprox/shared';
import { RawAnswer } from './raw-answer.js';
import type { ForwardedScrape } from '../../exchanges/scrape-handler.js';
import type { PeerTable } from '../peer-table.js';
import { isSubject, peerError } from '../wire-checks.js';

/** The open request must be answered within this (the holder answers at once); then the next holder is tried. */
export const OPEN_TIMEOUT_MS = 1_000;

/** Opens tried per holder before the next holder; each gets at most OPEN_TIMEOUT_MS. */
export const ATTEMPTS_PER_HOLDER = 3;
/** Pause after "no responders" before trying the same holder again (its subscription may be on its way after a reconnect). */
const NO_RESPONDERS_PAUSE_MS = 200;

/** The holder did not take the open (no responders, or no answer in time): try again or another. */
class NoHolder extends Error {
  constructor(
    message: string,
    readonly noResponders: boolean,
  ) {
    super(message);
  }
}

function isNoResponders(err: unknown): boolean {
  if (err instanceof errors.NoRespondersError) return true;
  return err instanceof errors.RequestError && (err.isNoResponders() || err.cause instanceof errors.NoRespondersError);
}

/**
 * The requesting side of a forwarded scrape: sends it to the proxy that holds
 * the client and relays the streamed answer to Prometheus, acknowledging a
 * chunk only once the socket to Prometheus has taken it (no 'drain' pending),
 * so at most FORWARD_WINDOW chunks are ever buffered here. The deadline
 * (`timeoutMs`) covers every attempt.
 */
export class ForwardClient {
  readonly #nc: () => NatsConnection | undefined;
  readonly #table: PeerTable;
  /** --push.max-body-size, for the answers of clients on NATS directly (parsed here). */
  readonly #maxBodyBytes: number;
  /** The subjects the answers stream to, one subscription for all. */
  readonly #streams = new InboxMux();

  constructor(nc: () => NatsConnection | undefined, table: PeerTable, maxBodyBytes: number) {
    this.#nc = nc;
    this.#table = table;
    this.#maxBodyBytes = maxBodyBytes;
  }

  async forward(peer: string, scrape: ForwardedScrape, res: ServerResponse): Promise<void> {
    const deadline = Date.now() + scrape.timeoutMs;
    const tried = new Set<string>();
    const key = scrape.fqdn.toLowerCase();
    for (let holder: string | undefined = peer; holder !== undefined; holder = this.#table.holderOf(key, tried)) {
      // A lost open (NATS node killed, interest not yet propagated after a reconnect) is retried on the same holder.
      for (let attempt = 1; attempt <= ATTEMPTS_PER_HOLDER; attempt++) {
        if (Date.now() >= deadline - 1 || res.destroyed) break;
        try {
          return await this.#attempt(holder, scrape, deadline, res);
        } catch (err) {
          if (!(err instanceof NoHolder)) throw err;
          if (err.noResponders) {
            if (attempt === ATTEMPTS_PER_HOLDER) this.#table.dropPeer(holder);
            else await new Promise((r) => setTimeout(r, NO_RESPONDERS_PAUSE_MS));
          }
        }
      }
      tried.add(holder);
    }
    throw new PushProxError(
      ERROR_CODES.SCRAPE_UNKNOWN_CLIENT,
      `no proxy of the cluster answered for ${JSON.stringify(scrape.fqdn)} (tried ${tried.size}): is pushprox-client running with --fqdn=${scrape.fqdn}?`,
    );
  }

  #attempt(holder: string, scrape: ForwardedScrape, deadline: number, res: ServerResponse): Promise<void> {
    const nc = this.#nc();
    if (!nc) return Promise.reject(new NoHolder('not connected', false));
    // A fresh Id per attempt: a lost open may still have reached the holder, which refuses a second scrape with its Id.
    const id = randomUUID();
    const request = scrape.build(id);
    // A client on NATS directly answers with the bytes of a push, parsed here; a proxy with a parsed head and body.
    const direct = this.#table.isDirect(holder);
    const subject = direct ? clientSubject(scrape.fqdn) : forwardSubject(holder);
    return new Promise<void>((resolve, reject) => {
      let control: string | undefined;
      let settled = false;
      let headSeen = false;
      /** The answer is complete (end or whole): later messages are ignored while Prometheus' socket finishes. */
      let ended = false;
      let nextSeq = 1;
      let written = 0;
      let acked = 0;
      let draining = false;
      const publishControl = (kind: string, set?: (m: ReturnType<typeof headers>) => void): void => {
        if (!control) return;
        const m = headers();
        m.set(H.kind, kind);
        set?.(m);
        try {
          nc.publish(control, undefined, { headers: m });
        } catch {
          // Connection closed: the holder's own deadline ends its side.
        }
      };
      const ack = (): void => {
        if (draining || written === acked || !control) return;
        acked = written;
        publishControl('ack', (m) => m.set(H.seq, String(acked)));
      };
      let raw: RawAnswer | undefined;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        if (err) raw?.abort(err);
        clearTimeout(timer);
        sub.close();
        res.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const cancel = (err: Error): void => {
        publishControl('cancel');
        settle(err);
      };
      const onClose = (): void => {
        if (!res.writableEnded) cancel(new PushProxError(ERROR_CODES.SCRAPE_CANCELLED, 'Prometheus closed the connection'));
      };
      const timer = setTimeout(
        () => cancel(new PushProxError(ERROR_CODES.SCRAPE_TIMEOUT, `context deadline exceeded (proxy ${holder} did not answer the forwarded scrape in time)`)),
        Math.max(0, deadline - Date.now()),
      );
      res.on('close', onClose);
      const onStream = (m: Msg): void => {
        if (settled || ended) return;
        const kind = m.headers?.get(H.kind);
        if (kind === 'head' && !headSeen) {
          headSeen = true;
          const head = parseHead(m.data);
          if (!head) return cancel(peerError(undefined, 'the head of the forwarded answer is not valid JSON', holder));
          res.writeHead(head.status, head.reason, head.headers);
        } else if (kind === 'whole' && !headSeen) {
          headSeen = true;
          const head = parseHead(Buffer.from(m.headers?.get(H.head) ?? ''));
          if (!head) return cancel(peerError(undefined, 'the head of the forwarded answer is not valid JSON', holder));
          res.writeHead(head.status, head.reason, head.headers);
          ended = true;
          clearTimeout(timer);
          res.end(Buffer.from(m.data), () => settle());
        } else if (kind === 'raw' && direct) {
          const seq = Number(m.headers?.get(H.seq));
          if (seq !== nextSeq) return cancel(peerError(undefined, `expected chunk ${nextSeq}, got ${JSON.stringify(m.headers?.get(H.seq))}`, holder));
          nextSeq++;
          if (!raw) {
            raw = new RawAnswer(res, id, this.#maxBodyBytes, (n) => {
              written = n;
              ack();
            });
            raw.done.then(
              () => settle(),
              (e: unknown) => cancel(new PushProxError(ERROR_CODES.PUSH_ABORTED, `the answer of the client on NATS was refused: ${messageOf(e)}`)),
            );
          }
          raw.write(seq, m.data);
        } else if (kind === 'end' && raw) {
          // The deadline still runs: the body may still be on its way to Prometheus.
          ended = true;
          raw.end();
        } else if (kind === 'data' && headSeen) {
          const seq = Number(m.headers?.get(H.seq));
          if (seq !== nextSeq) return cancel(peerError(undefined, `expected chunk ${nextSeq}, got ${JSON.stringify(m.headers?.get(H.seq))}`, holder));
          nextSeq++;
          written = seq;
          if (res.write(m.data)) return ack();
          draining = true;
          res.once('drain', () => {
            draining = false;
            ack();
          });
        } else if (kind === 'end' && headSeen) {
          ended = true;
          clearTimeout(timer);
          res.end(() => settle());
        } else if (kind === 'error') {
          settle(peerError(m.headers?.get(H.code), m.string(), holder));
        } else {
          cancel(peerError(undefined, `unexpected ${JSON.stringify(kind)} message in the forwarded answer`, holder));
        }
      };
      const sub = this.#streams.open(nc, (m) => {
        try {
          onStream(m);
        } catch (e) {
          // e.g. writeHead refusing a header: the answer cannot be relayed.
          cancel(peerError(undefined, messageOf(e), holder));
        }
      });
      const inbox = sub.subject;
      const open = headers();
      open.set(H.fqdn, scrape.fqdn);
      open.set(H.id, id);
      open.set(H.stream, inbox);
      open.set(H.timeoutMs, String(Math.max(1, deadline - Date.now())));
      nc.request(subject, request, { headers: open, timeout: Math.max(1, Math.min(OPEN_TIMEOUT_MS, deadline - Date.now())) }).then(
        (reply) => {
          const code = reply.headers?.get(H.code);
          if (code) return settle(peerError(code, reply.string(), holder));
          const ctl = reply.headers?.get(H.control) ?? '';
          if (!isSubject(ctl)) return cancel(peerError(undefined, `expected a ${H.control} subject in the open reply`, holder));
          control = ctl;
          if (settled) publishControl('cancel');
          else ack();
        },
        (err: unknown) => {
          if (isNoResponders(err) || err instanceof errors.TimeoutError) return settle(new NoHolder(messageOf(err), isNoResponders(err)));
          settle(new PushProxError(ERROR_CODES.PUSH_ABORTED, `forwarding to proxy ${holder} failed: ${messageOf(err)}`));
        },
      );
    });
  }
}

function parseHead(data: Uint8Array): { status: number; reason: string; headers: string[] } | undefined {
  try {
    const v = JSON.parse(Buffer.from(data).toString()) as { status?: unknown; reason?: unknown; headers?: unknown };
    const ok =
      Number.isInteger(v.status) && (v.status as number) >= 200 && (v.status as number) <= 999 && typeof v.reason === 'string' &&
      Array.isArray(v.headers) && v.headers.length % 2 === 0 && v.headers.every((x) => typeof x === 'string');
    return ok ? (v as { status: number; reason: string; headers: string[] }) : undefined;
  } catch {
    return undefined;
  }
}
