import type { Logger } from '@pushprox/shared';
import { ChannelPool, type ChannelPoolOptions } from './channel-pool.js';
import { Poller, type PollerOptions, type PollMode } from './poller.js';
import { describeError } from './scrape.js';

/** After a channel could not be opened or was lost, polling goes on at least this long before a channel is tried again. */
export const CHANNEL_RETRY_AFTER_MS = 60_000;

export interface TransportOptions {
  /** Everything a Poller needs but the channel hook. */
  readonly poller: Omit<PollerOptions, 'onChannelOffered'>;
  /** --proxy.channel; undefined: never open a channel. */
  readonly channel?: Omit<ChannelPoolOptions, 'onLost' | 'onPollError'>;
  readonly logger: Logger;
  /** Default CHANNEL_RETRY_AFTER_MS. */
  readonly channelRetryAfterMs?: number;
}

/**
 * How scrapes reach this client: a Poller (upstream's protocol, with our
 * extensions when the proxy offers them), or, with --proxy.channel once the
 * proxy lists the feature, a ChannelPool. The poller is stopped once a
 * channel is open (its stop() still hands over any scrape already arriving);
 * when the channels are lost, polling starts again and a channel is tried
 * again only after CHANNEL_RETRY_AFTER_MS.
 */
export class ProxyTransport {
  readonly #opts: TransportOptions;
  #poller: Poller | undefined;
  /** Stopped pollers winding down (their last replies may still carry scrapes). */
  #retired: Promise<unknown> = Promise.resolve();
  #pool: ChannelPool | undefined;
  #trying = false;
  #retryAt = 0;
  #stopped = false;

  constructor(opts: TransportOptions) {
    this.#opts = opts;
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
    this.#pool?.close();
    await Promise.all([this.#poller?.stop(), this.#retired]);
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

  #tryChannel(): void {
    const channel = this.#opts.channel;
    if (!channel || this.#pool || this.#trying || this.#stopped || Date.now() < this.#retryAt) return;
    this.#trying = true;
    const pool = new ChannelPool({
      ...channel,
      onPollError: this.#opts.poller.onPollError,
      onLost: (err) => this.#fallBack('Lost every channel to the proxy; polling again', err),
    });
    pool.start().then(
      () => {
        this.#trying = false;
        if (this.#stopped) return pool.destroy();
        this.#pool = pool;
        const poller = this.#poller;
        this.#poller = undefined;
        if (poller) this.#retired = Promise.all([this.#retired, poller.stop()]);
        this.#opts.logger.info('Proxy offers a channel; scrapes now come over it instead of polls', { max_channels: channel.capacity });
      },
      (err: unknown) => {
        this.#trying = false;
        this.#retryAt = Date.now() + (this.#opts.channelRetryAfterMs ?? CHANNEL_RETRY_AFTER_MS);
        this.#opts.logger.warn('Proxy offers a channel but it could not be opened; polling instead', { err: describeError(err) });
      },
    );
  }

  #fallBack(message: string, err: unknown): void {
    this.#pool = undefined;
    this.#retryAt = Date.now() + (this.#opts.channelRetryAfterMs ?? CHANNEL_RETRY_AFTER_MS);
    if (this.#stopped) return;
    this.#opts.logger.warn(message, { err: describeError(err) });
    this.#startPoller();
  }
}
