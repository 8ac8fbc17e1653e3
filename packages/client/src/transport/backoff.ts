import { performance } from 'node:perf_hooks';

/**
 * Exponential backoff with jitter, the way upstream's client retries polls
 * (cenkalti/backoff ExponentialBackOff with Multiplier 1.5, RandomizationFactor
 * 0.5, no MaxElapsedTime).
 *
 * With a fast phase (our addition; upstream has none): the first retries of
 * an outage are quick, so that clients are back soon after a proxy restart,
 * jittered, so that a fleet does not return in one burst; after the fast
 * period the waits back off as upstream's do.
 *
 * Invariant: the un-jittered interval goes initial, ×1.5, ×1.5 … and then
 * stays at `maxMs`; each returned wait is that interval ±50 %, so a single
 * wait may exceed `maxMs` by up to half of it (as upstream).
 */
export interface BackoffOptions {
  /** First interval before jitter, in ms (`--proxy.retry.initial-wait`). */
  readonly initialMs: number;
  /** Cap on the interval before jitter, in ms (`--proxy.retry.max-wait`). */
  readonly maxMs: number;
  /** Growth per failure. Default 1.5. */
  readonly multiplier?: number;
  /** Jitter as a fraction of the interval, 0 … 1. Default 0.5. */
  readonly randomization?: number;
  /** Uniform source in [0, 1). Default Math.random; tests pass a constant. */
  readonly random?: () => number;
  /**
   * Fast phase: for this long after the first failure in a row, waits follow
   * FAST_RETRY_INITIAL_MS ×1.5 up to FAST_RETRY_MAX_MS (with the same jitter;
   * never above the ordinary interval, which grows meanwhile, so that the
   * waits after the fast phase are at the cap). 0 (the default) disables it.
   */
  readonly fastPeriodMs?: number;
  /** Monotonic milliseconds, for the fast phase. Default performance.now. */
  readonly now?: () => number;
}

/** First fast-phase interval before jitter: a proxy that restarts is usually back within a second. */
export const FAST_RETRY_INITIAL_MS = 200;
/**
 * Cap of the fast-phase interval before jitter: with ±50 % jitter no wait
 * exceeds 900 ms, so a client is back within about a second of its proxy
 * listening again, and 10,000 clients spread their returns over 300…900 ms.
 */
export const FAST_RETRY_MAX_MS = 600;
/** How long after the first failure in a row the fast phase lasts (covers a restart or a crash and restart). */
export const DEFAULT_FAST_RETRY_PERIOD_MS = 15_000;

export class ExponentialBackoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #multiplier: number;
  readonly #randomization: number;
  readonly #random: () => number;
  readonly #fastPeriodMs: number;
  readonly #now: () => number;
  #currentMs: number;
  /** now() of the first failure in a row; undefined after a reset. */
  #failingSince: number | undefined;
  #fastMs = FAST_RETRY_INITIAL_MS;

  constructor(opts: BackoffOptions) {
    if (!(opts.initialMs >= 0) || !(opts.maxMs >= 0)) {
      throw new RangeError(`backoff waits must be >= 0 ms, got initial ${opts.initialMs} and max ${opts.maxMs}`);
    }
    this.#initialMs = opts.initialMs;
    this.#maxMs = opts.maxMs;
    this.#multiplier = opts.multiplier ?? 1.5;
    this.#randomization = opts.randomization ?? 0.5;
    this.#random = opts.random ?? Math.random;
    this.#fastPeriodMs = opts.fastPeriodMs ?? 0;
    this.#now = opts.now ?? (() => performance.now());
    // Like upstream, an initial wait above the max is used as given once.
    this.#currentMs = this.#initialMs;
  }

  /** The interval (before jitter) the next call to `next()` is based on. */
  get currentMs(): number {
    return this.#currentMs;
  }

  /** Wait before the next retry, in ms; advances the interval. */
  next(): number {
    const base = this.#currentMs;
    this.#currentMs = base >= this.#maxMs / this.#multiplier ? this.#maxMs : base * this.#multiplier;
    if (this.#fastPeriodMs > 0) {
      const now = this.#now();
      this.#failingSince ??= now;
      if (now - this.#failingSince < this.#fastPeriodMs) {
        // The fast phase never waits longer than the ordinary interval would.
        const fast = this.#fastMs;
        this.#fastMs = Math.min(FAST_RETRY_MAX_MS, fast * this.#multiplier);
        return this.#jitter(Math.min(fast, base));
      }
    }
    return this.#jitter(base);
  }

  #jitter(base: number): number {
    const delta = this.#randomization * base;
    return base - delta + this.#random() * 2 * delta;
  }

  /** Back to the initial interval; called after every successful poll. */
  reset(): void {
    this.#currentMs = this.#initialMs;
    this.#failingSince = undefined;
    this.#fastMs = FAST_RETRY_INITIAL_MS;
  }
}

/** Resolves after `ms`, or at once (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
