import type { PollSink, Ticket } from './types.js';

const EXPIRES = 1;
const LINGERS = 2;
const YIELDS = 4;

/**
 * A waiting poll, also its ticket. It holds its sink only while it waits, so
 * an ended poll still in a queue keeps no connection alive. (Its marks share
 * one field: a waiting poll is what an idle client costs.)
 */
export class WaitingPoll implements Ticket {
  readonly key: string;
  #flags: number;
  #sink: PollSink | undefined;
  readonly #cancel: (poll: WaitingPoll) => void;

  constructor(
    key: string,
    sink: PollSink,
    queues: { expires: boolean; lingers: boolean; yields: boolean },
    cancel: (poll: WaitingPoll) => void,
  ) {
    this.key = key;
    this.#sink = sink;
    this.#flags = (queues.expires ? EXPIRES : 0) | (queues.lingers ? LINGERS : 0) | (queues.yields ? YIELDS : 0);
    this.#cancel = cancel;
  }

  get done(): boolean {
    return this.#sink === undefined;
  }

  /** In the idle queue: it ends as `idle` unless answered first. */
  get expires(): boolean {
    return (this.#flags & EXPIRES) !== 0;
  }

  /** In the surplus queue: it ends as `idle` after the linger if other polls of its key still wait. */
  get lingers(): boolean {
    return (this.#flags & LINGERS) !== 0;
  }

  /** A capacity-declaring client's poll (not a channel's): it ends as `idle` when a channel of its key opens. */
  get yields(): boolean {
    return (this.#flags & YIELDS) !== 0;
  }

  /** It outlived its linger as the last poll of its key: it waits on as an ordinary poll. */
  settle(): void {
    this.#flags &= ~LINGERS;
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

  /** How many polls wait for `key`. */
  count(key: string): number {
    const cur = this.#byKey.get(key);
    return cur === undefined ? 0 : Array.isArray(cur) ? cur.length : 1;
  }

  /** The polls waiting for `key`, as a copy (callers end them while iterating). */
  of(key: string): WaitingPoll[] {
    const cur = this.#byKey.get(key);
    return cur === undefined ? [] : Array.isArray(cur) ? [...cur] : [cur];
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
