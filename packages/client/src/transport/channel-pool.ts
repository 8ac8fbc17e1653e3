import { performance } from 'node:perf_hooks';
import { CHANNEL_SILENCE_MS, HEADER_ID, type Logger } from '@pushprox/shared';
import { ClientChannel, type PushSink } from './channel.js';
import { openChannel, type ChannelOpenOptions } from './channel-open.js';
import type { ScrapeRequest } from './scrape-request.js';
import { parseScrapeRequest } from './poll-reply.js';
import { describeProxyError } from './proxy-error.js';

/** An extra channel idle this long, while another is idle too, is closed (as the proxy's surplus-poll linger). */
export const DEFAULT_CHANNEL_LINGER_MS = 120_000;

/** What openChannel() needs, plus the pool's own; `capacity` is also the most channels (--scrape.concurrency). */
export interface ChannelPoolOptions extends Omit<ChannelOpenOptions, 'timeoutMs'> {
  readonly logger: Logger;
  /**
   * A scrape request came; its push goes to `via`. Must return at once; the
   * promise settles when the scrape is done (pushed or given up).
   */
  onScrape(request: ScrapeRequest, via: PushSink): Promise<unknown>;
  /** A bad scrape request or a channel that could not be (re)opened (the poll error metric). */
  onPollError(err: unknown): void;
  /** The proxy refused a push on a channel (ERROR frame; the push error metric). Default none. */
  onPushRefused?(text: string): void;
  /**
   * Every channel is gone and a new one could not be opened: the pool has
   * stopped and the client polls again (its poller has the retry backoff).
   */
  onLost(err: unknown): void;
  /**
   * The proxy is going away (a RECONNECT frame): the pool has stopped, its
   * channels end once their scrapes are pushed, and the client should poll
   * again within `spreadMs`, without backing off. Called once (also for
   * renew(), with its reason).
   */
  onHandover(spreadMs: number, why?: string): void;
  /** Default DEFAULT_CHANNEL_LINGER_MS. */
  readonly lingerMs?: number;
  /** Default CHANNEL_SILENCE_MS. */
  readonly silenceMs?: number;
  /** Default the channel upgrade's own (10 s). */
  readonly openTimeoutMs?: number;
}

/**
 * This client's channels to the proxy. Like the poller under multi-poll, an
 * idle client holds one channel; a scrape arriving while every open channel
 * is busy opens another, up to `capacity`, so parallel scrapes never queue
 * behind each other; extras idle for the linger are closed again. A channel
 * closing (proxy restart, network) is replaced at once; if that fails while
 * none is left, the pool gives up and reports `onLost`.
 *
 * Invariant: the client closes a channel only by asking the proxy (CLOSE),
 * which ends it between scrapes, so no scrape request is ever dropped;
 * a REQUEST crossing the CLOSE is still run.
 */
export class ChannelPool {
  readonly #opts: ChannelPoolOptions;
  readonly #channels = new Set<ClientChannel>();
  #opening = 0;
  #stopped = false;
  #lost = false;
  #sweep: NodeJS.Timeout | undefined;

  constructor(opts: ChannelPoolOptions) {
    this.#opts = opts;
  }

  /** Channels open now. */
  get size(): number {
    return this.#channels.size;
  }

  /** Opens the first channel; rejects (and the pool is unusable) if the proxy refuses it. */
  async start(): Promise<void> {
    await this.#open();
    const linger = this.#opts.lingerMs ?? DEFAULT_CHANNEL_LINGER_MS;
    const silence = this.#opts.silenceMs ?? CHANNEL_SILENCE_MS;
    this.#sweep = setInterval(() => this.#check(linger, silence), Math.max(10, Math.min(linger, silence) / 4)).unref();
  }

  /** No new channels; asks the proxy to end each once its scrape (if any) is pushed. */
  close(): void {
    this.#stopped = true;
    clearInterval(this.#sweep);
    for (const c of this.#channels) c.requestClose();
  }

  /** Cuts every channel left (after the scrapes drained). */
  destroy(): void {
    this.close();
    for (const c of this.#channels) c.destroy('client stopped');
  }

  async #open(): Promise<void> {
    this.#opening++;
    try {
      const o = this.#opts;
      const socket = await openChannel(o.openTimeoutMs === undefined ? o : { ...o, timeoutMs: o.openTimeoutMs });
      if (this.#stopped) return void socket.destroy();
      const channel = new ClientChannel(socket, {
        logger: o.logger,
        onRequest: (bytes, via) => this.#onRequest(bytes, via),
        onClosed: (c, reason) => this.#onClosed(c, reason),
        onReconnect: (spreadMs) => this.#handover(spreadMs),
        onProxyError: (text) => this.#opts.onPushRefused?.(text),
      });
      this.#channels.add(channel);
      if (o.logger.debugEnabled) o.logger.debug('Channel opened', { channels: this.#channels.size });
    } finally {
      this.#opening--;
    }
  }

  #onRequest(bytes: Buffer, via: ClientChannel): void {
    let request: ScrapeRequest;
    try {
      const { head, body } = parseScrapeRequest(bytes);
      request = { head, body, receivedAt: performance.now() };
    } catch (err) {
      this.#opts.onPollError(err);
      this.#opts.logger.warn('Error polling', { err: describeProxyError(err), channel: true });
      return via.destroy(describeProxyError(err));
    }
    if (this.#opts.logger.debugEnabled) {
      this.#opts.logger.debug('Got scrape request', { scrape_id: request.head.headers.get(HEADER_ID), url: request.head.target });
    }
    this.#grow();
    // A scrape given up without a push (its deadline passed first) leaves the proxy waiting
    // for a response on this channel: it cannot carry another, so it is replaced.
    void this.#opts.onScrape(request, via).finally(() => {
      if (via.busy) via.destroy('the scrape ended without a push');
    });
  }

  /**
   * Ends the pool as a handover does, so that the client says hello again
   * (with its current client metadata) and reopens its channels: a channel
   * announces the metadata only when it opens.
   */
  renew(why: string): void {
    this.#handover(0, why);
  }

  #handover(spreadMs: number, why?: string): void {
    if (this.#stopped || this.#lost) return;
    this.#lost = true;
    // The proxy ends each channel once its scrape is pushed; CLOSE says the same from this side.
    this.close();
    this.#opts.onHandover(spreadMs, why);
  }

  /** Every channel busy: open one more for the next parallel scrape. */
  #grow(): void {
    if (this.#stopped || this.#opening > 0 || this.#channels.size >= this.#opts.capacity) return;
    for (const c of this.#channels) if (!c.busy && !c.closing) return;
    this.#openOrLose('Could not open another channel');
  }

  #onClosed(channel: ClientChannel, reason: string | undefined): void {
    this.#channels.delete(channel);
    if (this.#stopped || this.#lost) return;
    if (reason !== undefined) this.#opts.logger.warn('Channel closed', { reason, channels_left: this.#channels.size });
    // With an open under way, its outcome decides (see #openOrLose).
    if (this.#channels.size > 0 || this.#opening > 0) return;
    this.#openOrLose('Could not reopen a channel');
  }

  /**
   * Opens a channel; if that fails and no channel is left or being opened,
   * the pool is lost (the client polls again).
   */
  #openOrLose(message: string): void {
    this.#open().catch((err: unknown) => {
      if (this.#stopped || this.#lost) return;
      if (this.#channels.size > 0 || this.#opening > 0) {
        this.#opts.logger.warn(message, { err: describeProxyError(err) });
        return;
      }
      this.#lost = true;
      this.close();
      this.#opts.onPollError(err);
      this.#opts.onLost(err);
    });
  }

  #check(lingerMs: number, silenceMs: number): void {
    const now = Date.now();
    let idle = 0;
    for (const c of this.#channels) {
      if (c.busy) continue;
      if (now - c.heardAt >= silenceMs) {
        c.destroy(`no frame from the proxy for ${now - c.heardAt} ms`);
        continue;
      }
      // The first idle channel stays; of the others, one that lingered too long leaves.
      if (!c.closing && idle++ > 0 && now - c.idleSince >= lingerMs) c.requestClose();
    }
  }
}
