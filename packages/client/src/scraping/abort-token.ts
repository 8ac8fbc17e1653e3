import { EventEmitter } from 'node:events';

/**
 * A one-shot abort signal for the per-scrape requests, which undici takes in
 * place of an AbortSignal (`signal: AbortSignal | EventEmitter`: it reads
 * `aborted` and `reason` and listens for 'abort').
 *
 * Why not AbortController: on Node 20 creating an AbortSignal and adding and
 * removing two listeners costs about 6.5 µs, this about 0.35 µs, and every
 * scrape needs two (its own and its push's). Use an AbortSignal wherever an
 * API needs a real one (timers, p-queue).
 *
 * Invariant: 'abort' is emitted at most once, after `aborted` and `reason`
 * are set; later `abort()` calls change nothing.
 */
export class AbortToken extends EventEmitter {
  #aborted = false;
  #reason: Error | undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  /** The error given to the first abort(); undefined until then. */
  get reason(): Error | undefined {
    return this.#reason;
  }

  abort(reason: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.emit('abort');
  }
}
