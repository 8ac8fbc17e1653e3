/**
 * The sender's side of a forwarded body's flow control: at most `window`
 * chunks may be unacknowledged. Invariant: every wait ends, by an ack or by
 * abort() (the scrape's deadline, a cancel, shutdown).
 */
export class Credit {
  readonly #window: number;
  #sent = 0;
  #acked = 0;
  #wake: (() => void) | undefined;
  #aborted: Error | undefined;

  constructor(window: number) {
    this.#window = window;
  }

  /** Sequence number of the next chunk, once the window has room. */
  async next(): Promise<number> {
    while (this.#sent - this.#acked >= this.#window) {
      if (this.#aborted) throw this.#aborted;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    if (this.#aborted) throw this.#aborted;
    return ++this.#sent;
  }

  /** The receiver wrote every chunk up to `seq` (cumulative; stale or impossible acks are ignored). */
  ack(seq: number): void {
    if (!Number.isSafeInteger(seq) || seq <= this.#acked || seq > this.#sent) return;
    this.#acked = seq;
    this.#release();
  }

  abort(err: Error): void {
    this.#aborted ??= err;
    this.#release();
  }

  get aborted(): Error | undefined {
    return this.#aborted;
  }

  #release(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
