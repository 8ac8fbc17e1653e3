import v8 from 'node:v8';
import { v8Gc } from './gc.js';

/** Default time between two looks at the heap: 5 minutes. */
export const DEFAULT_IDLE_GC_INTERVAL_MS = 5 * 60_000;
/** Default growth of the used heap since the last collection that makes a look collect: 512 KiB. */
export const DEFAULT_IDLE_GC_MIN_GROWTH_BYTES = 512 * 1024;
/**
 * V8 sweeps after a mark-compact while the program runs, and counts the heap
 * as used until its pages are swept: the heap read right after a collection
 * is too high. The baseline is read this long after (or at half the interval,
 * whichever is sooner).
 */
const SETTLE_MS = 1000;
/** Default wait before looking again when the process was busy: 250 ms. */
export const DEFAULT_IDLE_GC_RETRY_MS = 250;

export interface IdleCollectorOptions {
  /** True while work is in flight (a scrape running): the collection waits for a moment without. */
  readonly isBusy: () => boolean;
  /** Time between two looks at the heap. Default DEFAULT_IDLE_GC_INTERVAL_MS; must be positive. */
  readonly intervalMs?: number;
  /** Growth of the used heap since the last collection below which a look does nothing. Default DEFAULT_IDLE_GC_MIN_GROWTH_BYTES. */
  readonly minGrowthBytes?: number;
  /** Wait before the next look when busy. Default DEFAULT_IDLE_GC_RETRY_MS; a look is retried until the next interval at most. */
  readonly retryMs?: number;
  /** Bytes of V8 heap in use. Default v8.getHeapStatistics().used_heap_size. */
  readonly heapUsed?: () => number;
  /** Runs a full collection. Default V8's gc() without options (a full mark-compact, run from a timer's own task); none where the runtime refuses. */
  readonly collect?: () => void;
}

/**
 * A full collection at an idle moment, every few minutes, when the heap has
 * grown. A process that works a few milliseconds every few seconds (a client
 * at Prometheus' usual rates) allocates too slowly for V8 to reach the limit
 * that starts a mark-compact on its own and too steadily for its memory
 * reducer, which waits for the allocation rate to drop: the dead objects of
 * each scrape climb into the old generation and stay for hours, so the
 * process' RSS creeps although its live heap does not. One mark-compact of a
 * heap of about 12 MB takes a few milliseconds; it runs only while nothing is
 * in flight, so it delays no scrape that is running, and at most one that
 * arrives during it.
 *
 * The timer is unref'd: it never keeps the process alive.
 */
export class IdleCollector {
  readonly #isBusy: () => boolean;
  readonly #intervalMs: number;
  readonly #minGrowthBytes: number;
  readonly #retryMs: number;
  /** How long after a collection the baseline is read: SETTLE_MS, or half the interval if sooner. */
  readonly #settleMs: number;
  readonly #heapUsed: () => number;
  readonly #collect: (() => void) | undefined;
  #baseline: number;
  #timer: NodeJS.Timeout | undefined;
  /** While busy: when the retries give way to the next regular look. */
  #lookDeadline: number | undefined;
  #collections = 0;
  /** The next look only reads the heap after a collection: see SETTLE_MS. */
  #settling = false;
  #stopped = false;

  constructor(o: IdleCollectorOptions) {
    const intervalMs = o.intervalMs ?? DEFAULT_IDLE_GC_INTERVAL_MS;
    if (!(intervalMs > 0)) throw new RangeError(`IdleCollector intervalMs: expected a positive number of milliseconds, got ${intervalMs}`);
    this.#isBusy = o.isBusy;
    this.#intervalMs = intervalMs;
    this.#minGrowthBytes = o.minGrowthBytes ?? DEFAULT_IDLE_GC_MIN_GROWTH_BYTES;
    this.#retryMs = Math.min(o.retryMs ?? DEFAULT_IDLE_GC_RETRY_MS, intervalMs);
    this.#settleMs = Math.min(SETTLE_MS, intervalMs / 2);
    this.#heapUsed = o.heapUsed ?? (() => v8.getHeapStatistics().used_heap_size);
    const gc = o.collect ? undefined : v8Gc();
    this.#collect = o.collect ?? (gc ? () => gc() : undefined);
    this.#baseline = this.#heapUsed();
  }

  /** Full collections run so far. */
  get collections(): number {
    return this.#collections;
  }

  /** Starts looking every intervalMs; does nothing where no collection is available or after stop(). */
  start(): void {
    if (this.#stopped || this.#timer || !this.#collect) return;
    this.#schedule(this.#intervalMs);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => this.#look(), ms);
    this.#timer.unref();
  }

  #look(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    if (this.#settling) {
      this.#settling = false;
      this.#baseline = this.#heapUsed();
      return this.#schedule(this.#intervalMs - this.#settleMs);
    }
    if (this.#heapUsed() - this.#baseline < this.#minGrowthBytes) return this.#schedule(this.#intervalMs);
    if (this.#isBusy()) {
      // Retry soon, but never past what would have been the next regular look.
      const now = performance.now();
      const deadline = (this.#lookDeadline ??= now + this.#intervalMs);
      if (now + this.#retryMs < deadline) return this.#schedule(this.#retryMs);
      this.#lookDeadline = undefined;
      return this.#schedule(Math.max(0, deadline - now));
    }
    this.#lookDeadline = undefined;
    this.#collect!();
    this.#collections++;
    this.#settling = true;
    this.#schedule(this.#settleMs);
  }
}
