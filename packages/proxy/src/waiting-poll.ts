import type { PollSink, Ticket } from './coordinator.js';

/**
 * A waiting poll, also its ticket. It holds its sink only while it waits, so
 * an ended poll still in the idle queue keeps no connection alive.
 */
export class WaitingPoll implements Ticket {
  readonly key: string;
  /** In the idle queue: it ends as `idle` unless answered first. */
  readonly expires: boolean;
  #sink: PollSink | undefined;
  readonly #cancel: (poll: WaitingPoll) => void;

  constructor(key: string, sink: PollSink, expires: boolean, cancel: (poll: WaitingPoll) => void) {
    this.key = key;
    this.#sink = sink;
    this.expires = expires;
    this.#cancel = cancel;
  }

  get done(): boolean {
    return this.#sink === undefined;
  }

  /** Marks the poll answered; its sink, for the answer. */
  take(): PollSink {
    const sink = this.#sink!;
    this.#sink = undefined;
    return sink;
  }

  cancel(): void {
    this.#cancel(this);
  }
}

/**
 * The waiting polls of each FQDN key, oldest first. Most clients wait with a
 * single poll, which is stored alone: an array per idle client would cost
 * about as much as the poll itself.
 */
export class PollLists {
  readonly #byKey = new Map<string, WaitingPoll | WaitingPoll[]>();
  #size = 0;

  /** How many polls wait, over all keys. */
  get size(): number {
    return this.#size;
  }

  has(key: string): boolean {
    return this.#byKey.has(key);
  }

  /** Appends `poll` to its key's list; how many polls wait for that key now. */
  add(poll: WaitingPoll): number {
    this.#size++;
    const cur = this.#byKey.get(poll.key);
    if (cur === undefined) {
      this.#byKey.set(poll.key, poll);
      return 1;
    }
    if (Array.isArray(cur)) return cur.push(poll);
    this.#byKey.set(poll.key, [cur, poll]);
    return 2;
  }

  oldest(key: string): WaitingPoll | undefined {
    const cur = this.#byKey.get(key);
    return Array.isArray(cur) ? cur[0] : cur;
  }

  /** Takes `poll` out of its list; false if it was not in it. */
  remove(poll: WaitingPoll): boolean {
    const cur = this.#byKey.get(poll.key);
    if (cur === poll) {
      this.#byKey.delete(poll.key);
    } else {
      const i = Array.isArray(cur) ? cur.indexOf(poll) : -1;
      if (i < 0) return false;
      const list = cur as WaitingPoll[];
      list.splice(i, 1);
      if (list.length === 1) this.#byKey.set(poll.key, list[0]!);
    }
    this.#size--;
    return true;
  }

  /** Every waiting poll, as a copy (callers end them while iterating). */
  all(): WaitingPoll[] {
    return [...this.#byKey.values()].flat();
  }
}
