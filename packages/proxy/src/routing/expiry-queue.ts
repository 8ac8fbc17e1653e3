import type { Clock } from './clock.js';

/**
 * Items that each expire `ttlMs` after they were added, on one timer for all
 * of them: a timer per item (per idle poll) would cost more memory than the
 * item. All items share the ttl, so they expire in the order they came; a wall
 * clock stepped back delays expiries by at most the step.
 *
 * Contract: the owner reports every added item through `ended()` exactly once,
 * when it ends, whichever way (also when it ends from `onExpire`), and from then
 * on `isLive(item)` is false. An ended item may stay queued until its time,
 * but never more of them than live ones (plus a few).
 */
export class ExpiryQueue<T> {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #isLive: (item: T) => boolean;
  readonly #onExpire: (item: T) => void;
  #items: T[] = [];
  /** Expiry times, parallel to #items (a packed array of doubles: no object per entry). */
  #at: number[] = [];
  #head = 0;
  #live = 0;
  #timer: unknown = undefined;

  constructor(clock: Clock, ttlMs: number, isLive: (item: T) => boolean, onExpire: (item: T) => void) {
    this.#clock = clock;
    this.#ttlMs = ttlMs;
    this.#isLive = isLive;
    this.#onExpire = onExpire;
  }

  /** Entries held, ended ones included: never more than 2 × live + 64. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  add(item: T): void {
    this.#items.push(item);
    this.#at.push(this.#clock.now() + this.#ttlMs);
    this.#live++;
    if (this.#timer === undefined) this.#arm();
  }

  /** One added item ended (see the contract above). */
  ended(): void {
    this.#live--;
    if (this.#live === 0) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#items = [];
      this.#at = [];
      this.#head = 0;
    } else if (this.#items.length - this.#head > 2 * this.#live + 64) {
      this.#prune();
    }
  }

  #prune(): void {
    const items: T[] = [];
    const at: number[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      if (!this.#isLive(this.#items[i]!)) continue;
      items.push(this.#items[i]!);
      at.push(this.#at[i]!);
    }
    this.#items = items;
    this.#at = at;
    this.#head = 0;
  }

  #arm(): void {
    const delay = Math.max(0, this.#at[this.#head]! - this.#clock.now());
    this.#timer = this.#clock.setTimeout(this.#fire, delay);
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = this.#clock.now();
    const due: T[] = [];
    while (this.#head < this.#items.length && this.#at[this.#head]! <= now) {
      const item = this.#items[this.#head]!;
      this.#items[this.#head++] = undefined as T;
      if (this.#isLive(item)) due.push(item);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) this.#prune();
    // Items may end (and the queue change) while expiring: the loop above is done with it by then.
    for (const item of due) if (this.#isLive(item)) this.#onExpire(item);
    if (this.#timer === undefined && this.#live > 0 && this.#head < this.#items.length) this.#arm();
  };
}
