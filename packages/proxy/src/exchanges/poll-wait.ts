import type { ServerResponse } from 'node:http';
import {
  ERROR_CODES,
  FEATURE_CHANNEL,
  FEATURE_IDLE_REPLY,
  FEATURE_MULTI_POLL,
  FEATURE_PUSH_POLL,
  HEADER_POLL_CAPACITY,
  HEADER_PROXY_FEATURES,
  HEADER_PUSH_POLL,
  HEADER_RECONNECT,
  PUSH_POLL_ACCEPTED,
  RECONNECT_SPREAD_MS,
  PUSH_POLL_HEAD_DELAY_MS,
  PushProxError,
  STATUS_POLL_IDLE,
  type Logger,
} from '@pushprox/shared';
import { performance } from 'node:perf_hooks';
import type { Coordinator, PollEndReason, PollSink, ReceivedMeta, ScrapeJob, Ticket } from '../routing/coordinator.js';
import { sendText } from '../listeners/respond.js';

/** Every poll reply names our features; upstream clients ignore the header. */
export const FEATURES: Readonly<Record<string, string>> = Object.freeze({
  [HEADER_PROXY_FEATURES]: `${FEATURE_MULTI_POLL}, ${FEATURE_IDLE_REPLY}, ${FEATURE_PUSH_POLL}, ${FEATURE_CHANNEL}`,
});

const PUSH_POLL_HEAD: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/plain; charset=utf-8',
  [HEADER_PUSH_POLL]: PUSH_POLL_ACCEPTED,
  ...FEATURES,
});

/** A waiting poll of our client when the proxy stops: no work, reconnect (see HEADER_RECONNECT). */
const HANDOVER_HEAD: Readonly<Record<string, string>> = Object.freeze({
  ...FEATURES,
  [HEADER_RECONNECT]: String(RECONNECT_SPREAD_MS),
  Connection: 'close',
});

/** Counts and times a /poll response (upstream's path metrics). */
export type Observe = (status: number, seconds: number) => void;

/** X-Pushprox-Poll-Capacity: undefined for upstream clients, else 1 to 9999. */
export function parseCapacity(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d{1,4}$/.test(raw.trim()) || n < 1) {
    throw new PushProxError(
      ERROR_CODES.POLL_BAD_FQDN,
      `expected ${HEADER_POLL_CAPACITY} to be a whole number from 1 to 9999, got ${JSON.stringify(raw.slice(0, 32))}`,
    );
  }
  return n;
}

/**
 * Answers a /poll. A waiting poll is what an idle client costs, so it is this
 * one object and one close listener (a bound method), with no closures or
 * timer of its own; it also counts the /poll in upstream's path metrics, once
 * its answer has been written in full.
 */
export class PollReply implements PollSink {
  readonly #res: ServerResponse;
  readonly #observe: Observe;
  readonly #logger: Logger;
  readonly #start = performance.now();
  capacity: number | undefined = undefined;
  ticket: Ticket | undefined = undefined;

  constructor(res: ServerResponse, observe: Observe, logger: Logger) {
    this.#res = res;
    this.#observe = observe;
    this.#logger = logger;
    res.on('close', this.closed.bind(this));
  }

  deliver(job: ScrapeJob): boolean {
    const res = this.#res;
    if (res.destroyed || res.headersSent) return false;
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': job.request.length, ...FEATURES });
    res.end(job.request);
    if (this.#logger.debugEnabled) this.#logger.debug('Responded to /poll', { fqdn: job.fqdn, scrape_id: job.id });
    return true;
  }

  end(reason: PollEndReason): void {
    const res = this.#res;
    if (res.destroyed || res.headersSent) return;
    if (reason === 'shutdown' && this.capacity !== undefined) {
      res.writeHead(STATUS_POLL_IDLE, HANDOVER_HEAD);
      res.end();
    } else if (reason === 'idle') {
      res.writeHead(STATUS_POLL_IDLE, FEATURES);
      res.end();
    } else if (reason === 'expired') {
      // Upstream's exact reply: an upstream client counts it as a poll error and retries.
      sendText(res, 408, 'Error WaitForScrapeInstruction: request is expired', FEATURES);
    } else {
      sendText(res, 503, 'Error WaitForScrapeInstruction: proxy is shutting down', FEATURES);
    }
  }

  /**
   * The response closed (Node emits 'close' after 'finish' too): a poll still
   * waiting is forgotten, so no scrape is handed to a client that went away.
   */
  closed(): void {
    this.ticket?.cancel();
    const res = this.#res;
    if (res.writableFinished) this.#observe(res.statusCode, (performance.now() - this.#start) / 1000);
  }
}

/**
 * Answers a push-and-poll (see HEADER_PUSH_POLL); its metrics are the push
 * handler's. Invariant: the head is sent once, with the scrape request
 * (Content-Length), or with an empty body at the end, or alone (chunked)
 * after PUSH_POLL_HEAD_DELAY_MS. Under load the next scrape comes within a
 * millisecond or two, so head and request leave in one write; when idle, the
 * client still learns within that delay that its push succeeded.
 */
class PushPollReply implements PollSink {
  readonly #res: ServerResponse;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  ticket: Ticket | undefined = undefined;

  constructor(res: ServerResponse, logger: Logger) {
    this.#res = res;
    this.#logger = logger;
    res.on('close', this.closed.bind(this));
  }

  deliver(job: ScrapeJob): boolean {
    const res = this.#res;
    if (res.destroyed || res.writableEnded) return false;
    this.#disarm();
    if (!res.headersSent) res.writeHead(200, { ...PUSH_POLL_HEAD, 'Content-Length': job.request.length });
    res.end(job.request);
    if (this.#logger.debugEnabled) this.#logger.debug('Responded to /push with a scrape', { fqdn: job.fqdn, scrape_id: job.id });
    return true;
  }

  end(): void {
    this.#disarm();
    const res = this.#res;
    if (res.destroyed || res.writableEnded) return;
    if (!res.headersSent) res.writeHead(200, { ...PUSH_POLL_HEAD, 'Content-Length': 0 });
    res.end();
  }

  /** Starts the head delay, unless the answer already went out. */
  arm(): void {
    const res = this.#res;
    if (!res.headersSent && !res.destroyed) this.#timer = setTimeout(PushPollReply.#flush, PUSH_POLL_HEAD_DELAY_MS, res);
  }

  closed(): void {
    this.ticket?.cancel();
    this.#disarm();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  static #flush(res: ServerResponse): void {
    if (res.headersSent || res.destroyed) return;
    // Chunked: the body (a scrape request, or nothing) comes when the coordinator decides.
    res.writeHead(200, PUSH_POLL_HEAD);
    res.flushHeaders();
  }
}

export interface WaitOptions {
  readonly fqdn: string;
  readonly capacity: number | undefined;
  /** Our hello: end at once as idle unless work is pending. */
  readonly hello?: boolean;
  /** The poll's client metadata (clientMetaOf); undefined for none. */
  readonly meta?: ReceivedMeta | undefined;
}

/**
 * Registers a poll for `opts.fqdn` until the coordinator answers it through
 * `reply` or its connection closes (then the poll is forgotten).
 */
export function waitForScrape(coordinator: Coordinator, res: ServerResponse, reply: PollReply | PushPollReply, opts: WaitOptions): void {
  const ticket = coordinator.poll(opts.fqdn, { capacity: opts.capacity, hello: opts.hello ?? false, meta: opts.meta }, reply);
  reply.ticket = ticket;
  // Closed while the request was read: 'close' came before there was a ticket to cancel.
  if (res.destroyed) ticket.cancel();
}

/** Answers `res`, a push whose response was relayed, as a poll for `opts.fqdn` (push-and-poll). */
export function waitAfterPush(coordinator: Coordinator, res: ServerResponse, opts: WaitOptions, logger: Logger): void {
  const reply = new PushPollReply(res, logger);
  waitForScrape(coordinator, res, reply, opts);
  reply.arm();
}
