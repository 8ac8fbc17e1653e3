/** Distinct reasons kept per tally; the rest are counted under OTHER so a flood of new texts stays bounded. */
const MAX_KEYS = 60;
const OTHER = '(other reasons)';
/** Latency samples kept; beyond, every other new one replaces a random old one (a reservoir). */
const MAX_SAMPLES = 100_000;

/** Counts by reason, bounded in distinct keys. */
export class Tally {
  readonly #counts = new Map<string, number>();

  add(reason: string): void {
    const key = this.#counts.has(reason) || this.#counts.size < MAX_KEYS ? reason.slice(0, 200) : OTHER;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  get total(): number {
    let n = 0;
    for (const v of this.#counts.values()) n += v;
    return n;
  }

  /** Most frequent first. */
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.#counts].sort((a, b) => b[1] - a[1]));
  }
}

/** A bounded reservoir of samples (uniform over everything added). */
export class Samples {
  readonly #xs: number[] = [];
  #seen = 0;

  add(x: number): void {
    this.#seen++;
    if (this.#xs.length < MAX_SAMPLES) this.#xs.push(x);
    else {
      const i = Math.floor(Math.random() * this.#seen);
      if (i < MAX_SAMPLES) this.#xs[i] = x;
    }
  }

  values(): readonly number[] {
    return this.#xs;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
export const randInt = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo + 1));
