import type { Clock } from './clock.js';

/**
 * Which clients exist: an FQDN is registered while it has a poll waiting (a
 * connected client is never dropped, unlike upstream) or if its last poll
 * ended within the registration timeout.
 */
export class ClientRegistry {
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  /** lower-cased FQDN → spelling the client used and when it was last seen. */
  readonly #lastSeen = new Map<string, { readonly name: string; at: number }>();
  readonly #connected = new Map<string, number>();

  constructor(clock: Clock, registrationTimeoutMs: number) {
    this.#clock = clock;
    this.#timeoutMs = registrationTimeoutMs;
  }

  /** A poll arrived or ended for `key`; refreshes its registration. */
  touch(key: string, name: string): void {
    const e = this.#lastSeen.get(key);
    if (e) e.at = this.#clock.now();
    else this.#lastSeen.set(key, { name, at: this.#clock.now() });
  }

  connected(key: string, delta: 1 | -1): void {
    const n = (this.#connected.get(key) ?? 0) + delta;
    if (n > 0) this.#connected.set(key, n);
    else this.#connected.delete(key);
  }

  isKnown(key: string): boolean {
    if (this.#connected.has(key)) return true;
    const e = this.#lastSeen.get(key);
    return e !== undefined && this.#clock.now() - e.at <= this.#timeoutMs;
  }

  /** Milliseconds since `key` last polled, or undefined if never. */
  sinceLastSeen(key: string): number | undefined {
    const e = this.#lastSeen.get(key);
    return e === undefined ? undefined : this.#clock.now() - e.at;
  }

  /** Registered client names, sorted; drops expired entries as it goes. */
  list(): string[] {
    const out: string[] = [];
    const limit = this.#clock.now() - this.#timeoutMs;
    for (const [key, e] of this.#lastSeen) {
      if (this.#connected.has(key) || e.at >= limit) out.push(e.name);
      else this.#lastSeen.delete(key);
    }
    return out.sort();
  }

  get size(): number {
    return this.list().length;
  }
}
