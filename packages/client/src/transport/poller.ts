import { performance } from 'node:perf_hooks';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { formatDuration, HEADER_CLIENT_META, HEADER_HELLO, HEADER_ID, HEADER_POLL_CAPACITY, type Logger } from '@pushprox/shared';
import { DEFAULT_FAST_RETRY_PERIOD_MS, ExponentialBackoff, sleep } from './backoff.js';
import type { ScrapeRequest } from './scrape-request.js';
import { DEFAULT_MAX_POLL_REPLY_BYTES, PollError, readPollReply, type PollReply } from './poll-reply.js';
import { awaitPushPoll, unlessStopped, type PushPollAsk, type PushPollWait } from './push-poll.js';
import { describeError } from '../scraping/scrape.js';
import { describeProxyError } from './proxy-error.js';

/** Upstream proxies hold a poll until a scrape comes, however long; past this we just poll again. */

/** Shortest poll cycle that ends in an idle reply (see #loop). */
export const MIN_IDLE_CYCLE_MS = 1000;
export const DEFAULT_POLL_HEADERS_TIMEOUT_MS = 10 * 60_000;
/** A poll reply's body follows its head at once; this only catches a dead connection. */
export const DEFAULT_POLL_BODY_TIMEOUT_MS = 60_000;
/**
 * A poll held at least this long and then cut without a reply is polled
 * again at once, not counted as an error: that is a load balancer's or
 * NAT's idle timeout (set --poll.idle-timeout on the proxy below it to avoid
 * the reconnect). A proxy that is gone fails the next poll as usual.
 */
export const DEFAULT_POLL_CUT_AFTER_MS = 10_000;

/** The start-up line saying how this client polls, in the operator's terms rather than the protocol's feature names. */
export function pollModeMessage(multiPoll: boolean, pushPoll: boolean): string {
  if (!multiPoll) return 'Proxy takes one poll at a time per client (as upstream PushProx does): polling with one request';
  return pushPoll
    ? 'Proxy takes concurrent polls: keeping up to --scrape.concurrency polls open, and each pushed result also asks for the next scrape'
    : 'Proxy takes concurrent polls: keeping up to --scrape.concurrency polls open';
}

function isConnectionCut(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
}

export interface PollerOptions {
  readonly pollUrl: string;
  /** `Bearer <token>` from --client.token-file, sent with every poll. */
  readonly authorization?: string | undefined;
  readonly fqdn: string;
  /**
   * The current X-Pushprox-Client-Meta value, asked for every poll and
   * push-and-poll (labels, modules, version; a module reload changes it);
   * our proxy reads it, an upstream one ignores it. Default none.
   */
  readonly clientMeta?: (() => string) | undefined;
  /** Sent as X-Pushprox-Poll-Capacity; also the most poll loops under multi-poll. */
  readonly capacity: number;
  readonly dispatcher: Dispatcher;
  readonly retryInitialWaitMs: number;
  readonly retryMaxWaitMs: number;
  readonly logger: Logger;
  /**
   * Called for every scrape request; must return at once. With `ask` (the
   * proxy offers push-and-poll), the promise must settle once the scrape is
   * pushed, with the poll's wait if the proxy took the push as a poll.
   */
  readonly onScrape: (request: ScrapeRequest, ask?: PushPollAsk) => Promise<PushPollWait | undefined> | void;
  /**
   * Called for every reply whose proxy offers a channel (FEATURE_CHANNEL);
   * returns the attempt to open one, if one is under way (it never rejects).
   * A loop whose reply brought no scrape waits for it before polling again,
   * so that no poll is in flight when a channel takes over. Default none.
   */
  readonly onChannelOffered?: () => Promise<void> | undefined;
  /** Called once per poll error (the metric). */
  readonly onPollError: (err: unknown) => void;
  /** A loop waits `waitMs` after a poll error before polling again (the status page). Default none. */
  readonly onBackoff?: (err: unknown, waitMs: number) => void;
  /** A poll was answered (the status page). Default none. */
  readonly onPollOk?: () => void;
  /** Default DEFAULT_POLL_HEADERS_TIMEOUT_MS (10 min). */
  readonly headersTimeoutMs?: number;
  /** Default DEFAULT_POLL_BODY_TIMEOUT_MS (60 s). */
  readonly bodyTimeoutMs?: number;
  /** Default DEFAULT_POLL_CUT_AFTER_MS (10 s). */
  readonly cutAfterMs?: number;
  /** Default DEFAULT_MAX_POLL_REPLY_BYTES (1 MiB). */
  readonly maxReplyBytes?: number;
  /** Jitter source for the backoff. Default Math.random. */
  readonly random?: () => number;
  /** The backoff's fast phase (BackoffOptions.fastPeriodMs); 0 disables. Default DEFAULT_FAST_RETRY_PERIOD_MS (15 s). */
  readonly retryFastPeriodMs?: number;
}

/**
 * 'single': one poll at a time (upstream proxy, or not known yet); 'multi':
 * up to `capacity` at once; 'push-poll': up to `capacity` loops, each of
 * which asks for its next scrape on the push of the last one instead of
 * polling again.
 */
export type PollMode = 'single' | 'multi' | 'push-poll';

type PollOutcome = PollReply | { readonly kind: 'again' } | { readonly kind: 'stopped' };

/**
 * The poll loops for this client's FQDN. It starts with one loop whose first
 * poll says hello. Every reply that lists `multi-poll` raises the limit to
 * `capacity` loops; every reply without it lowers it to one, because an
 * upstream proxy answers a second poll for the same FQDN by expiring the
 * first (408).
 *
 * Under multi-poll an idle client holds one poll: a loop that takes a scrape
 * while no other poll of ours waits at the proxy starts another loop (up to
 * the limit), so a parallel scrape finds a poll waiting and never queues
 * behind the first. Loops beyond one leave when their poll ends without work
 * (our proxy ends surplus polls after a linger, see the proxy's coordinator):
 * the proxy decides, because a client aborting a held poll could race a
 * scrape being handed to it.
 *
 * Every reply that also lists `push-poll` (with multi-poll) makes each loop
 * wait for its scrape to be pushed and take the push's reply as its next
 * poll reply, so a scrape costs the client one exchange with the proxy, not
 * two; loops then bound the scrapes running, and further scrapes wait at the
 * proxy.
 *
 * Invariants: surplus loops leave only between polls, so a scale-down never
 * drops a poll that may carry a scrape; retire() (a channel took over) makes
 * every loop leave that way, aborting nothing; stop() aborts only polls still
 * waiting for their reply head (or, after a push, for the first byte of the
 * answer) — a reply already arriving is read and its scrape handed over.
 */
export class Poller {
  readonly #opts: PollerOptions;
  readonly #origin: string;
  readonly #path: string;
  readonly #loops = new Set<Promise<void>>();
  readonly #waiting = new Set<AbortController>();
  readonly #stopCtl = new AbortController();
  #target = 1;
  #running = 0;
  /** Loops whose push has been sent and is (or will be) held as their poll. */
  #pushWaiting = 0;
  #multiPoll = false;
  #pushPoll = false;
  #started = false;
  /** retire() was called: no loop polls again, none asks for push-and-poll. */
  #retiring = false;

  constructor(opts: PollerOptions) {
    this.#opts = opts;
    const url = new URL(opts.pollUrl);
    this.#origin = url.origin;
    this.#path = url.pathname + url.search;
  }

  get mode(): PollMode {
    return this.#multiPoll ? (this.#pushPoll ? 'push-poll' : 'multi') : 'single';
  }

  /** Poll loops running now. */
  get loops(): number {
    return this.#running;
  }

  /** Polls sent and waiting for their reply head. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Polls of ours the proxy may hand a scrape to now, or once it has relayed a push already sent. */
  get #holding(): number {
    return this.#waiting.size + this.#pushWaiting;
  }

  start(): void {
    if (this.#started) throw new Error('Poller.start() called twice');
    this.#started = true;
    this.#spawn(true);
  }

  /**
   * Lets every loop leave once its poll (or push-and-poll) in flight has
   * ended, with no new one: a poll aborted by the client could race a scrape
   * being handed to it (see the class doc), so the proxy ends them (ours ends
   * them as idle when a channel of the FQDN opens) or a scrape does. Resolves
   * when every loop has left; stop() still cuts them.
   */
  async retire(): Promise<void> {
    this.#retiring = true;
    this.#target = 0;
    while (this.#loops.size > 0) await Promise.allSettled([...this.#loops]);
  }

  /** Aborts waiting polls and backoff sleeps; resolves when every loop has left. */
  async stop(): Promise<void> {
    this.#stopCtl.abort();
    for (const ctl of this.#waiting) ctl.abort(new Error('client stopping'));
    while (this.#loops.size > 0) await Promise.allSettled([...this.#loops]);
  }

  get #stopping(): boolean {
    return this.#stopCtl.signal.aborted;
  }

  #spawn(hello: boolean): void {
    this.#running++;
    const loop = this.#loop(hello)
      .catch((err: unknown) => this.#opts.logger.error('Poll loop failed', { err: describeError(err) }))
      .finally(() => {
        this.#loops.delete(loop);
      });
    this.#loops.add(loop);
  }

  #negotiate(multiPoll: boolean, pushPoll = false): void {
    const before = this.mode;
    this.#pushPoll = multiPoll && pushPoll;
    this.#multiPoll = multiPoll;
    if (this.mode !== before) {
      this.#opts.logger.info(pollModeMessage(multiPoll, this.#pushPoll), { concurrent_polls: multiPoll ? this.#opts.capacity : 1 });
    }
    this.#target = this.#retiring ? 0 : multiPoll ? this.#opts.capacity : 1;
  }

  /** A loop took a scrape: make sure another poll waits for the next one. */
  #grow(): void {
    if (this.#multiPoll && !this.#stopping && this.#running < this.#target && this.#holding === 0) this.#spawn(false);
  }

  /** A poll ended without work: true if this loop is surplus and leaves. */
  get #surplus(): boolean {
    return this.#multiPoll && this.#running > 1;
  }

  async #loop(hello: boolean): Promise<void> {
    const { logger } = this.#opts;
    const backoff = new ExponentialBackoff({
      initialMs: this.#opts.retryInitialWaitMs,
      maxMs: this.#opts.retryMaxWaitMs,
      fastPeriodMs: this.#opts.retryFastPeriodMs ?? DEFAULT_FAST_RETRY_PERIOD_MS,
      ...(this.#opts.random && { random: this.#opts.random }),
    });
    // A scrape request that came on a push's reply, to be run before polling again.
    let carried: PollReply | undefined;
    try {
      // `#running > #target` is checked and `#running` decremented without an
      // await in between, so concurrent surplus loops never overshoot.
      while (!this.#stopping && this.#running <= this.#target) {
        try {
          const sentAt = performance.now();
          const outcome: PollOutcome = carried ?? (await this.#pollOnce(hello));
          if (outcome.kind === 'stopped') break;
          if (outcome.kind === 'idle' && outcome.reconnectMs !== undefined) {
            // The proxy is going away: every loop but one leaves, the last polls again
            // within the spread (a fleet must not return in one burst) and says hello to
            // learn the features of whichever proxy answers. A reconnect reply that came at
            // once (a proxy still draining, or one that says so every time) is spaced by
            // the backoff instead, so that no loop spins; its fast phase covers the time
            // until the next proxy listens.
            if (this.#surplus) break;
            const instant = performance.now() - sentAt < MIN_IDLE_CYCLE_MS;
            const waitMs = instant ? backoff.next() : (this.#opts.random ?? Math.random)() * outcome.reconnectMs;
            if (!instant) logger.info('Proxy is shutting down; reconnecting', { reconnect_within: formatDuration(outcome.reconnectMs) });
            else if (logger.debugEnabled) logger.debug('Proxy is still shutting down; reconnecting', { retry_in: formatDuration(Math.round(waitMs)) });
            await sleep(waitMs, this.#stopCtl.signal);
            hello = true;
            continue;
          }
          backoff.reset();
          this.#opts.onPollOk?.();
          if (outcome.kind === 'again') {
            if (this.#surplus) break;
            continue;
          }
          // A proxy that answered every poll with an instant no-work reply
          // would make this loop spin; idle replies other than to a hello are
          // spaced at least MIN_IDLE_CYCLE_MS apart. (A carried reply is never
          // idle: an empty push-poll answer ends in a fresh poll, or the loop.)
          const cycleMs = performance.now() - sentAt;
          if (outcome.kind === 'idle' && !hello && cycleMs < MIN_IDLE_CYCLE_MS) {
            await sleep(MIN_IDLE_CYCLE_MS - cycleMs, this.#stopCtl.signal);
          } else if (outcome.kind === 'idle') {
            // undici offers a new connection for reuse only from a later
            // macrotask: polling at once after the hello would open a second
            // one, left idle at the proxy for its keep-alive timeout (95 s).
            await nextMacrotask();
          }
          hello = false;
          carried = undefined;
          this.#negotiate(outcome.multiPoll, outcome.pushPoll);
          const attempt = outcome.channel ? this.#opts.onChannelOffered?.() : undefined;
          if (attempt && outcome.kind !== 'scrape') await attempt;
          if (outcome.kind === 'idle' && this.#surplus) break;
          if (outcome.kind === 'scrape') {
            this.#grow();
            if (logger.debugEnabled) {
              logger.debug('Got scrape request', { scrape_id: outcome.head.headers.get(HEADER_ID), url: outcome.head.target });
            }
            const request = { head: outcome.head, body: outcome.body, receivedAt: performance.now() };
            if (!this.#pushPoll || this.#retiring) {
              void this.#opts.onScrape(request);
              continue;
            }
            // Counted as holding a poll from when its push is sent: the proxy
            // may hold back the reply head until the next scrape comes.
            let sent = false;
            const ask = this.#ask(() => {
              if (!sent) this.#pushWaiting++;
              sent = true;
            });
            let next: PollReply | undefined;
            try {
              const wait = await unlessStopped(this.#opts.onScrape(request, ask), this.#stopCtl.signal, this.#maxReplyBytes, (late) => {
                void this.#opts.onScrape(late);
              });
              if (wait === 'stopped') break;
              next = wait && (await awaitPushPoll(wait, this.#maxReplyBytes, this.#stopCtl.signal));
            } finally {
              if (sent) this.#pushWaiting--;
              // A push whose body ends only now (or never) must not count as holding.
              sent = true;
            }
            if (next?.kind === 'scrape') carried = next;
            else if (next) {
              this.#negotiate(next.multiPoll, next.pushPoll);
              if (this.#surplus) break;
            }
          }
        } catch (err) {
          // Anything thrown above is a poll error: the loop must outlive it.
          if (this.#stopping) break;
          if (err instanceof PollError && err.multiPoll !== undefined) this.#negotiate(err.multiPoll);
          this.#opts.onPollError(err);
          // One loop is enough to find out when the proxy is back.
          const surplus = this.#surplus;
          const waitMs = surplus ? 0 : backoff.next();
          logger.warn('Error polling', { err: describeProxyError(err), ...(surplus ? { poll_loops_left: this.#running - 1 } : { retry_in: formatDuration(Math.round(waitMs)) }) });
          if (surplus) break;
          this.#opts.onBackoff?.(err, waitMs);
          hello = true;
          await sleep(waitMs, this.#stopCtl.signal);
        }
      }
    } finally {
      this.#running--;
      // A scrape that came on a push's reply after stop() or a scale-down is still run.
      if (carried?.kind === 'scrape') {
        void this.#opts.onScrape({ head: carried.head, body: carried.body, receivedAt: performance.now() });
      }
    }
  }

  get #maxReplyBytes(): number {
    return this.#opts.maxReplyBytes ?? DEFAULT_MAX_POLL_REPLY_BYTES;
  }

  #ask(onSent: () => void): PushPollAsk {
    return {
      fqdn: this.#opts.fqdn,
      capacity: this.#opts.capacity,
      clientMeta: this.#opts.clientMeta?.(),
      waitMs: this.#opts.headersTimeoutMs ?? DEFAULT_POLL_HEADERS_TIMEOUT_MS,
      onSent,
    };
  }

  async #pollOnce(hello: boolean): Promise<PollOutcome> {
    const ctl = new AbortController();
    this.#waiting.add(ctl);
    const sentAt = performance.now();
    let res: Dispatcher.ResponseData;
    try {
      const headers = [HEADER_POLL_CAPACITY, String(this.#opts.capacity)];
      if (hello) headers.push(HEADER_HELLO, '1');
      if (this.#opts.authorization) headers.push('Authorization', this.#opts.authorization);
      const meta = this.#opts.clientMeta?.();
      if (meta) headers.push(HEADER_CLIENT_META, meta);
      res = await this.#opts.dispatcher.request({
        origin: this.#origin,
        path: this.#path,
        method: 'POST',
        headers,
        body: this.#opts.fqdn,
        signal: ctl.signal,
        headersTimeout: this.#opts.headersTimeoutMs ?? DEFAULT_POLL_HEADERS_TIMEOUT_MS,
        bodyTimeout: this.#opts.bodyTimeoutMs ?? DEFAULT_POLL_BODY_TIMEOUT_MS,
      });
    } catch (err) {
      if (ctl.signal.aborted) return { kind: 'stopped' };
      if ((err as { code?: unknown }).code === 'UND_ERR_HEADERS_TIMEOUT') {
        if (this.#opts.logger.debugEnabled) this.#opts.logger.debug('Poll held past the headers timeout; polling again');
        return { kind: 'again' };
      }
      const heldMs = performance.now() - sentAt;
      if (isConnectionCut(err) && heldMs >= (this.#opts.cutAfterMs ?? DEFAULT_POLL_CUT_AFTER_MS)) {
        if (this.#opts.logger.debugEnabled) {
          this.#opts.logger.debug('Idle poll cut by the network; polling again', { held: formatDuration(Math.round(heldMs)), err: describeError(err) });
        }
        return { kind: 'again' };
      }
      throw err;
    } finally {
      // From here on stop() lets the reply arrive: it may carry a scrape.
      this.#waiting.delete(ctl);
    }
    return readPollReply(res, this.#maxReplyBytes);
  }
}
