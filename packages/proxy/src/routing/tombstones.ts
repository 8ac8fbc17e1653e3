import type { Clock } from './clock.js';

/**
 * Ids of scrapes that ended (answered, expired or cancelled), remembered for a
 * while so a late or second push is told 410 rather than "never seen" (404).
 * Bounded in count and age; the oldest are forgotten first, and a push for a
 * forgotten Id gets 404.
 */
export class Tombstones {
  readonly #clock: Clock;
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;
  readonly #ids = new Map<string, number>();

  constructor(clock: Clock, maxEntries = 10_000, maxAgeMs = 10 * 60_000) {
    this.#clock = clock;
    this.#maxEntries = maxEntries;
    this.#maxAgeMs = maxAgeMs;
  }

  add(id: string): void {
    this.#ids.set(id, this.#clock.now());
    while (this.#ids.size > this.#maxEntries) {
      const oldest = this.#ids.keys().next().value as string;
      this.#ids.delete(oldest);
    }
  }

  has(id: string): boolean {
    const at = this.#ids.get(id);
    if (at === undefined) return false;
    if (this.#clock.now() - at > this.#maxAgeMs) {
      this.#ids.delete(id);
      return false;
    }
    return true;
  }
}
