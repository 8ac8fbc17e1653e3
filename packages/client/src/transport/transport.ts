import { CHANNEL_PROTOCOL, formatDuration, PATH_POLL } from '@pushprox/shared';
import { DEFAULT_FAST_RETRY_PERIOD_MS, ExponentialBackoff } from './backoff.js';
import { ChannelPool, type ChannelPoolOptions } from './channel-pool.js';
import { Poller, type PollerOptions, type PollMode } from './poller.js';
import { describeProxyError } from './proxy-error.js';

/**
 * After a channel could not be opened or was lost, polling goes on at least
 * this long before a channel is tried again; the wait doubles with every
 * failure in a row, up to CHANNEL_RETRY_MAX_MS (a reverse proxy that refuses
 * upgrades is then tried, and logged, once an hour).
 */
export const CHANNEL_RETRY_AFTER_MS = 60_000;
export const CHANNEL_RETRY_MAX_MS = 3_600_000;
/**
 * A handover this soon after the last one waits by a back-off instead of the
 * proxy's spread: restarts in a row are rare, and a proxy that says so on
 * every channel must not make the client reconnect in a loop.
 */
export const HANDOVER_MIN_INTERVAL_MS = 10_000;

export interface TransportOptions {
  /** Everything a Poller needs but the channel hook. */
  readonly poller: Omit<PollerOptions, 'onChannelOffered'>;
  /**
   * --proxy.channel (on by default); undefined: never open a channel. The channel's proxy
   * URL, FQDN, capacity, credentials, dispatcher and logger are the poller's.
   */
  readonly channel?: Pick<ChannelPoolOptions, 'onScrape' | 'onPushRefused' | 'lingerMs' | 'silenceMs' | 'openTimeoutMs'>;
  /** First wait before a channel is tried again. Default CHANNEL_RETRY_AFTER_MS. */
  readonly channelRetryAfterMs?: number;
  /** A channel could not be opened or every channel was lost; polling until `retryMs` has passed (the status page). */
  readonly onChannelDown?: (err: unknown, retryMs: number) => void;
}

/**
 * How scrapes reach this client: a Poller (upstream's protocol, with our
 * extensions when the proxy offers them), or, with --proxy.channel (the
 * default) once the proxy lists the feature, a ChannelPool. The poller is retired once a
 * channel is open: its polls in flight end by themselves (never aborted, since the
 * proxy may be handing one a scrape) and it sends no more;
 * when the channels are lost, polling starts again and a channel is tried
 * again only after CHANNEL_RETRY_AFTER_MS (doubling per failure in a row).
 */
export class ProxyTransport {
  readonly #opts: TransportOptions;
  #poller: Poller | undefined;
  /** Retired pollers whose last polls are still in flight (they may still carry scrapes). */
  readonly #retiring = new Set<Poller>();
  #pool: ChannelPool | undefined;
  /** The attempt to open a channel under way; it never rejects. */
  #attempt: Promise<void> | undefined;
  #retryAt = 0;
  /** Waits before the next channel try: doubling per failure in a row, reset once one opens. */
  readonly #retry: ExponentialBackoff;
  #stopped = false;
  /** A handover's wait before polling again (see #handover). */
  #handoverTimer: NodeJS.Timeout | undefined;
  /** Date.now() of the last handover. */
  #handoverAt = -Infinity;
  /** Waits of handovers in a row (see HANDOVER_MIN_INTERVAL_MS). */
  readonly #handoverRetry = new ExponentialBackoff({ initialMs: 1_000, maxMs: 5_000, fastPeriodMs: DEFAULT_FAST_RETRY_PERIOD_MS });

  constructor(opts: TransportOptions) {
    this.#opts = opts;
    this.#retry = new ExponentialBackoff({
      initialMs: opts.channelRetryAfterMs ?? CHANNEL_RETRY_AFTER_MS,
      maxMs: CHANNEL_RETRY_MAX_MS,
      multiplier: 2,
      randomization: 0,
    });
  }

  get mode(): PollMode | 'channel' {
    return this.#pool ? 'channel' : (this.#poller?.mode ?? 'single');
  }

  /** Poll loops, or channels, open now. */
  get loops(): number {
    return this.#pool ? this.#pool.size : (this.#poller?.loops ?? 0);
  }

  start(): void {
    this.#startPoller();
  }

  /** Stops polling and asks the proxy to end each channel; scrapes already taken still push. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#handoverTimer);
    this.#pool?.close();
    await Promise.all([this.#poller?.stop(), ...[...this.#retiring].map((p) => p.stop())]);
  }

  /** Cuts what is left (after the scrapes drained). */
  destroy(): void {
    this.#pool?.destroy();
  }

  #startPoller(): void {
    const { channel } = this.#opts;
    const poller = new Poller({
      ...this.#opts.poller,
      ...(channel && { onChannelOffered: () => this.#tryChannel() }),
    });
    this.#poller = poller;
    poller.start();
  }

  /** Starts an attempt to open a channel unless one is open, under way or not due; the attempt under way, if any. */
  #tryChannel(): Promise<void> | undefined {
    const channel = this.#opts.channel;
    if (this.#attempt || !channel || this.#pool || this.#stopped || Date.now() < this.#retryAt) return this.#attempt;
    const p = this.#opts.poller;
    const poll = new URL(p.pollUrl);
    const pool = new ChannelPool({
      ...channel,
      origin: poll.origin,
      path: poll.pathname + poll.search,
      fqdn: p.fqdn,
      capacity: p.capacity,
      authorization: p.authorization,
      clientMeta: p.clientMeta,
      dispatcher: p.dispatcher,
      logger: p.logger,
      onPollError: p.onPollError,
      onLost: (err) => this.#fallBack('Lost every channel to the proxy; polling again', err),
      onHandover: (spreadMs, why) => this.#handover(spreadMs, why),
    });
    this.#attempt = pool.start().then(
      () => {
        this.#attempt = undefined;
        if (this.#stopped) return void pool.destroy();
        this.#retry.reset();
        this.#pool = pool;
        const poller = this.#poller;
        this.#poller = undefined;
        if (poller) {
          this.#retiring.add(poller);
          void poller.retire().finally(() => this.#retiring.delete(poller));
        }
        p.logger.info('Proxy offers a channel; scrapes now come over it instead of polls', { max_channels: p.capacity });
      },
      (err: unknown) => {
        this.#attempt = undefined;
        const retryMs = this.#backOff();
        this.#opts.onChannelDown?.(err, retryMs);
        // Most often a reverse or forward proxy on the way that does not pass upgrades on.
        p.logger.warn('Proxy offers a channel but it could not be opened; polling instead', {
          err: describeProxyError(err),
          retry_in: formatDuration(retryMs),
          hint: `let any proxy between client and proxy pass "Upgrade: ${CHANNEL_PROTOCOL}" on ${PATH_POLL}, or run with --no-proxy.channel`,
        });
      },
    );
    return this.#attempt;
  }

  #fallBack(message: string, err: unknown): void {
    this.#pool = undefined;
    const retryMs = this.#backOff();
    if (this.#stopped) return;
    this.#opts.onChannelDown?.(err, retryMs);
    this.#opts.poller.logger.warn(message, { err: describeProxyError(err), channel_retry_in: formatDuration(retryMs) });
    this.#startPoller();
  }

  /**
   * The proxy is going away: poll again within `spreadMs` (the poller's
   * hello finds whichever proxy listens next, and its fast retries cover the
   * time until one does), and open a channel as soon as that proxy offers
   * one: a restart is no failure of the channel, so there is no channel backoff
   * (handovers in a row wait by HANDOVER_MIN_INTERVAL_MS's back-off instead).
   */
  /** Reopens the channels (see ChannelPool.renew); polling needs nothing, each poll sends the current metadata. */
  renewChannels(why: string): void {
    this.#pool?.renew(why);
  }

  #handover(spreadMs: number, why = 'Proxy is shutting down; reconnecting'): void {
    this.#pool = undefined;
    this.#retryAt = 0;
    const now = Date.now();
    const inARow = now - this.#handoverAt < HANDOVER_MIN_INTERVAL_MS;
    this.#handoverAt = now;
    if (!inARow) this.#handoverRetry.reset();
    const waitMs = inARow ? this.#handoverRetry.next() : Math.random() * spreadMs;
    if (this.#stopped) return;
    this.#opts.poller.logger.info(why, { reconnect_within: formatDuration(spreadMs), channel: true });
    this.#handoverTimer = setTimeout(() => {
      this.#handoverTimer = undefined;
      if (!this.#stopped) this.#startPoller();
    }, waitMs);
  }

  /** Sets when a channel may be tried again; returns the wait. */
  #backOff(): number {
    const retryMs = this.#retry.next();
    this.#retryAt = Date.now() + retryMs;
    return retryMs;
  }
}
