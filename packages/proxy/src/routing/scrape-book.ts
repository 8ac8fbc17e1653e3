import { ERROR_CODES, PushProxError } from '@pushprox/shared';
import type { Clock } from './clock.js';
import { Tombstones } from './tombstones.js';
import type { ScrapeJob, ScrapeSink } from './types.js';

/** A scrape from submit until it completes, fails or is cancelled. */
export interface Scrape {
  readonly key: string;
  readonly job: ScrapeJob;
  readonly sink: ScrapeSink;
  readonly timer: unknown;
  state: 'pending' | 'dispatched' | 'responding';
}

/**
 * The scrapes a coordinator holds: every live one by id, the pending ones
 * (no poll has taken them yet) in arrival order per FQDN key, and the
 * tombstones of those that ended. Invariants: a scrape is in the pending
 * list of its key exactly while its state is `pending` and it is live; its
 * deadline timer is cleared when it leaves (remove), and its id is then a
 * tombstone for a while.
 */
export class ScrapeBook {
  readonly #clock: Clock;
  readonly #live = new Map<string, Scrape>();
  readonly #pending = new Map<string, Scrape[]>();
  readonly #ended: Tombstones;

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#ended = new Tombstones(clock);
  }

  get liveCount(): number {
    return this.#live.size;
  }

  get pendingCount(): number {
    let n = 0;
    for (const l of this.#pending.values()) n += l.length;
    return n;
  }

  /** The live scrape `id`, or undefined. */
  get(id: string): Scrape | undefined {
    return this.#live.get(id);
  }

  /** Whether `id` was handed out here (live, or recently ended). */
  knows(id: string): boolean {
    return this.#live.has(id) || this.#ended.has(id);
  }

  /** A new live scrape (its deadline timer already running). */
  add(scrape: Scrape): void {
    if (this.#live.has(scrape.job.id)) throw new Error(`duplicate scrape id ${scrape.job.id}`);
    this.#live.set(scrape.job.id, scrape);
  }

  /** A live scrape no poll could take: it waits, behind the others of its key. */
  park(scrape: Scrape): void {
    if (this.#live.get(scrape.job.id) !== scrape || scrape.state !== 'pending') return;
    let list = this.#pending.get(scrape.key);
    if (!list) this.#pending.set(scrape.key, (list = []));
    list.push(scrape);
  }

  /** The oldest pending scrape of `key`. */
  firstPending(key: string): Scrape | undefined {
    return this.#pending.get(key)?.[0];
  }

  /** The pending scrapes of `key`, oldest first (a copy). */
  pendingOf(key: string): readonly Scrape[] {
    return [...(this.#pending.get(key) ?? [])];
  }

  /** Every pending scrape (a copy). */
  allPending(): readonly Scrape[] {
    return [...this.#pending.values()].flat();
  }

  /** The oldest pending scrape of `key` was handed to a poll. */
  dispatchFirst(key: string): Scrape | undefined {
    const list = this.#pending.get(key);
    const scrape = list?.shift();
    if (list?.length === 0) this.#pending.delete(key);
    if (scrape) scrape.state = 'dispatched';
    return scrape;
  }

  /** Forgets a live scrape: clears its deadline, leaves a tombstone. Nothing happens if it already left. */
  remove(scrape: Scrape): void {
    if (this.#live.get(scrape.job.id) !== scrape) return;
    this.#live.delete(scrape.job.id);
    this.#clock.clearTimeout(scrape.timer);
    this.#ended.add(scrape.job.id);
    if (scrape.state !== 'pending') return;
    const list = this.#pending.get(scrape.key);
    const i = list ? list.indexOf(scrape) : -1;
    if (list && i >= 0) {
      list.splice(i, 1);
      if (list.length === 0) this.#pending.delete(scrape.key);
    }
  }

  /**
   * A push arrived for `id`: marks the scrape as being answered and returns
   * its job. Unknown or expired ids are refused at once (upstream blocked 15 s).
   */
  claim(id: string): ScrapeJob {
    const scrape = this.#live.get(id);
    if (scrape?.state === 'dispatched') {
      scrape.state = 'responding';
      return scrape.job;
    }
    if (scrape || this.#ended.has(id)) {
      const why = scrape ? 'is being answered by another push' : 'was already answered, expired or was cancelled';
      throw new PushProxError(ERROR_CODES.PUSH_EXPIRED_ID, `scrape ${JSON.stringify(id)} ${why}`);
    }
    throw new PushProxError(ERROR_CODES.PUSH_UNKNOWN_ID, `unknown scrape id ${JSON.stringify(id)}`);
  }
}
