/**
 * Exponential backoff with jitter, the way upstream's client retries polls
 * (cenkalti/backoff ExponentialBackOff with Multiplier 1.5, RandomizationFactor
 * 0.5, no MaxElapsedTime).
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
}

export class ExponentialBackoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #multiplier: number;
  readonly #randomization: number;
  readonly #random: () => number;
  #currentMs: number;

  constructor(opts: BackoffOptions) {
    if (!(opts.initialMs >= 0) || !(opts.maxMs >= 0)) {
      throw new RangeError(`backoff waits must be >= 0 ms, got initial ${opts.initialMs} and max ${opts.maxMs}`);
    }
    this.#initialMs = opts.initialMs;
    this.#maxMs = opts.maxMs;
    this.#multiplier = opts.multiplier ?? 1.5;
    this.#randomization = opts.randomization ?? 0.5;
    this.#random = opts.random ?? Math.random;
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
    const delta = this.#randomization * base;
    const wait = base - delta + this.#random() * 2 * delta;
    this.#currentMs = base >= this.#maxMs / this.#multiplier ? this.#maxMs : base * this.#multiplier;
    return wait;
  }

  /** Back to the initial interval; called after every successful poll. */
  reset(): void {
    this.#currentMs = this.#initialMs;
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
