import type { ScrapeOutcome } from '../scraping/job.js';

/** Scrapes and refusals kept for the status page, each. */
export const CLIENT_HISTORY_LENGTH = 32;
/** Longest reason kept, in UTF-16 code units. */
const MAX_REASON_CHARS = 512;

interface Kept extends ScrapeOutcome {
  readonly at: number;
}

export interface TransportView {
  /** 'single' | 'multi' | 'push-poll' | 'channel' (ProxyTransport.mode). */
  readonly mode: string;
  /** Poll loops or channels open now. */
  readonly loops: number;
}

/**
 * The state of one link to a proxy (one --proxy-url for one FQDN): its last
 * answered poll, its backoff and why, and a refused channel. Fixed memory;
 * times are passed by `now`.
 */
export class LinkStatus {
  readonly #now: () => number;
  #backoff: { readonly reason: string; readonly at: number; readonly until: number } | undefined;
  #channelDown: { readonly reason: string; readonly at: number; readonly retryAt: number } | undefined;
  #lastPollOk: number | undefined;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  pollOk(): void {
    this.#lastPollOk = this.#now();
    this.#backoff = undefined;
  }

  backoff(reason: string, waitMs: number): void {
    const at = this.#now();
    this.#backoff = { reason: reason.slice(0, MAX_REASON_CHARS), at, until: at + waitMs };
  }

  channelDown(reason: string, retryMs: number): void {
    const at = this.#now();
    this.#channelDown = { reason: reason.slice(0, MAX_REASON_CHARS), at, retryAt: at + retryMs };
  }

  /** The connection's state: backing off (and why) wins over the transport's mode. */
  connection(t: TransportView) {
    const now = this.#now();
    const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
    const backingOff = this.#backoff !== undefined && this.#backoff.until > now;
    return {
      state: backingOff ? 'backing off' : t.mode === 'channel' ? 'channel' : 'polling',
      mode: t.mode,
      loops: t.loops,
      reason: backingOff ? this.#backoff!.reason : '',
      retryAt: backingOff ? iso(this.#backoff!.until) : null,
      lastPollOk: iso(this.#lastPollOk),
      lastError: this.#backoff ? { reason: this.#backoff.reason, at: iso(this.#backoff.at) } : null,
      channelDown: this.#channelDown && {
        reason: this.#channelDown.reason,
        at: iso(this.#channelDown.at),
        retryAt: iso(this.#channelDown.retryAt),
      },
    };
  }

}

/**
 * What the client's status page shows of its scrapes: the last scrapes and
 * refusals (each link's state is its LinkStatus). Fixed memory (two rings of
 * CLIENT_HISTORY_LENGTH, reasons cut to MAX_REASON_CHARS).
 */
export class ClientStatusLog {
  readonly #clock: () => number;
  readonly #scrapes: Kept[] = [];
  readonly #refusals: Kept[] = [];
  #scraped = 0;
  #failed = 0;
  #refused = 0;

  constructor(now: () => number = Date.now) {
    this.#clock = now;
  }

  scrape(o: ScrapeOutcome): void {
    const kept: Kept = { ...o, at: this.#clock(), ...(o.error !== undefined && { error: o.error.slice(0, MAX_REASON_CHARS) }) };
    const ring = o.refused !== undefined ? this.#refusals : this.#scrapes;
    ring.unshift(kept);
    if (ring.length > CLIENT_HISTORY_LENGTH) ring.pop();
    if (o.refused !== undefined) this.#refused++;
    else if (o.error !== undefined) this.#failed++;
    else this.#scraped++;
  }

  history() {
    const json = (k: Kept) => ({
      at: new Date(k.at).toISOString(),
      target: k.target,
      status: k.status,
      durationSeconds: k.durationMs / 1000,
      error: k.error ?? '',
      ...(k.refused !== undefined && { reason: k.refused }),
    });
    return {
      totals: { scraped: this.#scraped, failed: this.#failed, refused: this.#refused },
      scrapes: this.#scrapes.map(json),
      refusals: this.#refusals.map(json),
    };
  }
}
