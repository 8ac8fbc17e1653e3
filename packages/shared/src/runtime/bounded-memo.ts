/**
 * Answers of a pure function kept by key, for the per-scrape path: Prometheus
 * sends the same few targets and header names on every scrape, and at one
 * scrape every few seconds the parsers behind them run cold where a Map
 * lookup is cheap. Bounded: keys longer than `maxKeyChars` are never kept,
 * and the table is emptied when it holds `maxEntries`, so a peer sending new
 * keys every time only refills it. A computation that throws keeps nothing.
 */
export class BoundedMemo<V> {
  readonly #table = new Map<string, V>();
  readonly #maxEntries: number;
  readonly #maxKeyChars: number;

  constructor(maxEntries: number, maxKeyChars: number) {
    this.#maxEntries = maxEntries;
    this.#maxKeyChars = maxKeyChars;
  }

  /** The value kept for `key`, else `compute(key)`'s (kept within the bounds). */
  get(key: string, compute: (key: string) => V): V {
    const known = this.#table.get(key);
    if (known !== undefined) return known;
    const value = compute(key);
    if (key.length > this.#maxKeyChars) return value;
    if (this.#table.size >= this.#maxEntries) this.#table.clear();
    this.#table.set(key, value);
    return value;
  }
}
