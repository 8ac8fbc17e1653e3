import { isIPv6 } from 'node:net';

export interface FailureLimiterOptions {
  /** Failed attempts one source may make per window; 0 disables the limit. Default 10. */
  readonly maxFailures?: number;
  /** Length of a source's window, counted from its first failure. Default 60 s. */
  readonly windowMs?: number;
  /** Sources tracked at once; past that the least recently failing one is forgotten. Default 4096. */
  readonly maxSources?: number;
  /** Default Date.now. */
  readonly now?: () => number;
}

export const AUTH_MAX_FAILURES = 10;
export const AUTH_FAILURE_WINDOW_MS = 60_000;
export const AUTH_MAX_SOURCES = 4096;

interface Window {
  start: number;
  failures: number;
}

/**
 * The source a limit applies to: an IPv4 address (IPv4-mapped IPv6 ones
 * too), or the /64 of an IPv6 address, the smallest block a site is given
 * (RFC 6177): one host can use every address of its /64.
 */
export function sourceOf(address: string | undefined): string {
  if (address === undefined) return '?';
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.split('::');
  const h = head === '' ? [] : head.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - (tail === '' ? 0 : tail.split(':').length)).fill('0')];
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/**
 * Counts failed authentication attempts per source in fixed windows: once a
 * source has `maxFailures` failures within `windowMs` of its first one, it
 * is refused until that window ends (`retryAfterMs`), and callers skip the
 * expensive check. Invariant: the table holds at most `maxSources` sources;
 * a full table forgets the source whose last failure is oldest, so memory
 * stays bounded whatever the number of addresses a flood comes from.
 */
export class FailureLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #maxSources: number;
  readonly #now: () => number;
  /** In order of last failure, oldest first (a Map keeps insertion order). */
  readonly #sources = new Map<string, Window>();

  constructor(opts: FailureLimiterOptions = {}) {
    this.#max = opts.maxFailures ?? AUTH_MAX_FAILURES;
    this.#windowMs = opts.windowMs ?? AUTH_FAILURE_WINDOW_MS;
    this.#maxSources = opts.maxSources ?? AUTH_MAX_SOURCES;
    this.#now = opts.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.#max > 0;
  }

  get maxFailures(): number {
    return this.#max;
  }

  get windowMs(): number {
    return this.#windowMs;
  }

  /** Sources in the table now. */
  get size(): number {
    return this.#sources.size;
  }

  /** How long `source` is still refused, in ms; 0 when it may try. */
  retryAfterMs(source: string): number {
    const w = this.#current(source);
    if (!w || w.failures < this.#max) return 0;
    return w.start + this.#windowMs - this.#now();
  }

  /** Counts one failure of `source`; returns whether it is now refused. */
  fail(source: string): boolean {
    if (!this.enabled) return false;
    let w = this.#current(source);
    this.#sources.delete(source);
    w ??= { start: this.#now(), failures: 0 };
    w.failures++;
    this.#sources.set(source, w);
    while (this.#sources.size > this.#maxSources) this.#sources.delete(this.#sources.keys().next().value as string);
    return w.failures >= this.#max;
  }

  /** A success forgets the source's failures. */
  succeed(source: string): void {
    this.#sources.delete(source);
  }

  #current(source: string): Window | undefined {
    const w = this.#sources.get(source);
    if (w && this.#now() - w.start >= this.#windowMs) {
      this.#sources.delete(source);
      return undefined;
    }
    return w;
  }
}
