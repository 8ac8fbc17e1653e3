import type { Clock } from './clock.js';

/**
 * Which clients exist: an FQDN is registered while it has a poll waiting (a
 * connected client is never dropped, unlike upstream) or if its last poll
 * ended within the registration timeout.
 */
export class ClientRegistry {
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  /** lower-cased FQDN → when it was last seen. */
  readonly #lastSeen = new Map<string, number>();
  /**
   * lower-cased FQDN → the spelling the client used, only where it differs:
   * most FQDNs are lower-case, and an object per client would cost more than its key.
   */
  readonly #spelling = new Map<string, string>();
  /** Whether `key` has a poll waiting (the coordinator knows; no second count of it here). */
  readonly #connected: (key: string) => boolean;

  /** Most FQDNs registered at once (--registration.max-clients). */
  readonly #maxClients: number;
  /** clock.now() of the last sweep of expired entries made to find room (at most one a second). */
  #sweptAt = -Infinity;

  /** Told of every name the sweep drops, so state kept beside the registry (client metadata) is dropped with it. */
  readonly #onForget: ((key: string) => void) | undefined;

  constructor(
    clock: Clock,
    registrationTimeoutMs: number,
    connected: (key: string) => boolean,
    maxClients = Infinity,
    onForget?: (key: string) => void,
  ) {
    this.#onForget = onForget;
    this.#clock = clock;
    this.#timeoutMs = registrationTimeoutMs;
    this.#connected = connected;
    this.#maxClients = maxClients;
  }

  /**
   * Whether a poll for `key` may register: always for a name already
   * registered; for a new one while fewer than maxClients are. Invariant: the
   * table never holds more than maxClients names. A full table is swept of
   * expired names at most once a second, so a flood of new names costs O(1)
   * each in between.
   */
  admits(key: string): boolean {
    if (this.#lastSeen.has(key) || this.#lastSeen.size < this.#maxClients) return true;
    const now = this.#clock.now();
    if (now - this.#sweptAt < 1_000) return false;
    this.#sweptAt = now;
    this.#sweep();
    return this.#lastSeen.size < this.#maxClients;
  }

  /** A poll arrived or ended for `key`; refreshes its registration. */
  touch(key: string, name: string): void {
    if (name !== key && !this.#lastSeen.has(key)) this.#spelling.set(key, name);
    this.#lastSeen.set(key, this.#clock.now());
  }

  isKnown(key: string): boolean {
    if (this.#connected(key)) return true;
    const at = this.#lastSeen.get(key);
    return at !== undefined && this.#clock.now() - at <= this.#timeoutMs;
  }

  /** Milliseconds since `key` last polled, or undefined if never. */
  sinceLastSeen(key: string): number | undefined {
    const at = this.#lastSeen.get(key);
    return at === undefined ? undefined : this.#clock.now() - at;
  }

  /** Registered client names, sorted; drops expired entries first. */
  list(): string[] {
    this.#sweep();
    const out: string[] = [];
    for (const key of this.#lastSeen.keys()) out.push(this.#spelling.get(key) ?? key);
    return out.sort();
  }

  /** Names with a poll or channel waiting now (what a proxy of a cluster announces), unsorted. */
  connectedNames(): string[] {
    const out: string[] = [];
    for (const key of this.#lastSeen.keys()) if (this.#connected(key)) out.push(this.#spelling.get(key) ?? key);
    return out;
  }

  /** Drops every entry neither connected nor seen within the registration timeout. */
  #sweep(): void {
    const limit = this.#clock.now() - this.#timeoutMs;
    for (const [key, at] of this.#lastSeen) {
      if (this.#connected(key) || at >= limit) continue;
      this.#lastSeen.delete(key);
      this.#spelling.delete(key);
      this.#onForget?.(key);
    }
  }

  get size(): number {
    return this.list().length;
  }
}
