/**
 * One client's recent scrapes, in fixed memory: a ring of the last
 * HISTORY_LENGTH results and five one-minute buckets of counts. No
 * node:http, no timers: the caller passes the time of each event.
 *
 * Memory invariant: the numeric fields of the ring live in one Float64Array
 * allocated at the first scrape (an idle client costs only this object);
 * error reasons are kept only for failed scrapes, each cut to
 * MAX_REASON_CHARS.
 */

/** Scrapes kept per client for the detail view and the p50/p99. */
export const HISTORY_LENGTH = 32;
/** Longest error reason kept, in UTF-16 code units. */
export const MAX_REASON_CHARS = 512;
/** The window of the scrape and error counts. */
export const WINDOW_MS = 5 * 60_000;

const MINUTE_MS = 60_000;
const BUCKETS = WINDOW_MS / MINUTE_MS;
/** Per scrape: at (ms), duration (ms), bytes, status. */
const FIELDS = 4;
/** Buckets after the ring: minute number, scrapes, errors. */
const BUCKET_BASE = HISTORY_LENGTH * FIELDS;

export type Transport = 'channel' | 'polling' | 'upstream';

export interface ScrapeResult {
  /** clock.now() when the scrape ended. */
  readonly at: number;
  readonly durationMs: number;
  /** Status Prometheus got. */
  readonly status: number;
  /** Body bytes relayed. */
  readonly bytes: number;
  /** Why it failed (status >= 400 or cut short); undefined on success. */
  readonly error?: string;
}

export interface WindowSummary {
  readonly scrapes: number;
  readonly errors: number;
  /** Over the ring's scrapes within the window; undefined with none. */
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
}

/** A scrape counts as failed when Prometheus got no 2xx answer or the body was cut short. */
export function isFailure(r: Pick<ScrapeResult, 'status' | 'error'>): boolean {
  return r.error !== undefined || r.status < 200 || r.status > 299;
}

export class ClientHistory {
  /** The FQDN as the client spells it. */
  readonly name: string;
  /** When this client was first seen in its current registration. */
  readonly since: number;
  lastPollAt: number;
  transport: Transport;
  #ring: Float64Array | undefined;
  #errors: Array<string | undefined> | undefined;
  /** Scrapes recorded in total; the next one goes to index total % HISTORY_LENGTH. */
  #total = 0;

  constructor(name: string, now: number, transport: Transport) {
    this.name = name;
    this.since = now;
    this.lastPollAt = now;
    this.transport = transport;
  }

  get total(): number {
    return this.#total;
  }

  record(r: ScrapeResult): void {
    const ring = (this.#ring ??= new Float64Array(BUCKET_BASE + BUCKETS * 3));
    const i = this.#total % HISTORY_LENGTH;
    ring[i * FIELDS] = r.at;
    ring[i * FIELDS + 1] = r.durationMs;
    ring[i * FIELDS + 2] = r.bytes;
    ring[i * FIELDS + 3] = r.status;
    const failed = isFailure(r);
    if (failed || this.#errors) {
      this.#errors ??= [];
      this.#errors[i] = failed ? (r.error ?? `HTTP ${r.status}`).slice(0, MAX_REASON_CHARS) : undefined;
    }
    this.#total++;
    const minute = Math.floor(r.at / MINUTE_MS);
    const b = BUCKET_BASE + (minute % BUCKETS) * 3;
    if (ring[b] !== minute) {
      ring[b] = minute;
      ring[b + 1] = 0;
      ring[b + 2] = 0;
    }
    ring[b + 1]!++;
    if (failed) ring[b + 2]!++;
  }

  /** The last `n` results, newest first. */
  recent(n = HISTORY_LENGTH): ScrapeResult[] {
    const ring = this.#ring;
    const out: ScrapeResult[] = [];
    if (!ring) return out;
    const count = Math.min(n, this.#total, HISTORY_LENGTH);
    for (let k = 1; k <= count; k++) {
      const i = (this.#total - k) % HISTORY_LENGTH;
      const error = this.#errors?.[i];
      out.push({
        at: ring[i * FIELDS]!,
        durationMs: ring[i * FIELDS + 1]!,
        bytes: ring[i * FIELDS + 2]!,
        status: ring[i * FIELDS + 3]!,
        ...(error !== undefined && { error }),
      });
    }
    return out;
  }

  last(): ScrapeResult | undefined {
    return this.recent(1)[0];
  }

  /** Scrapes and failed scrapes over the last WINDOW_MS, by whole minutes (no allocation: the idle filter and the errors sort ask every client). */
  counts(now: number): { scrapes: number; errors: number } {
    const ring = this.#ring;
    let scrapes = 0;
    let errors = 0;
    if (!ring) return { scrapes, errors };
    const minute = Math.floor(now / MINUTE_MS);
    for (let k = 0; k < BUCKETS; k++) {
      const b = BUCKET_BASE + k * 3;
      if (minute - ring[b]! < BUCKETS) {
        scrapes += ring[b + 1]!;
        errors += ring[b + 2]!;
      }
    }
    return { scrapes, errors };
  }

  /** counts() and the latency quantiles of the ring's scrapes within the window. */
  summary(now: number): WindowSummary {
    const ring = this.#ring;
    const { scrapes, errors } = this.counts(now);
    if (!ring) return { scrapes, errors, p50Ms: undefined, p99Ms: undefined };
    const durations: number[] = [];
    const count = Math.min(this.#total, HISTORY_LENGTH);
    for (let i = 0; i < count; i++) if (now - ring[i * FIELDS]! <= WINDOW_MS) durations.push(ring[i * FIELDS + 1]!);
    durations.sort((a, b) => a - b);
    return { scrapes, errors, p50Ms: quantile(durations, 0.5), p99Ms: quantile(durations, 0.99) };
  }

  /** The p99 alone: the largest of the ring's durations within the window when it holds fewer than 100. */
  p99(now: number): number | undefined {
    const ring = this.#ring;
    if (!ring) return undefined;
    const count = Math.min(this.#total, HISTORY_LENGTH);
    let max: number | undefined;
    for (let i = 0; i < count; i++) {
      if (now - ring[i * FIELDS]! <= WINDOW_MS && (max === undefined || ring[i * FIELDS + 1]! > max)) max = ring[i * FIELDS + 1]!;
    }
    return max;
  }
}

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
