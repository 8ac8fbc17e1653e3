import { formatDuration } from '../flags/duration.js';
import type { LogFields, Logger } from '../runtime/log.js';

export interface WarnAggregatorOptions {
  readonly logger: Logger;
  /** The warning's message. */
  readonly msg: string;
  /** Summaries are written, and budgets renewed, once per interval. Default 60 s. */
  readonly intervalMs?: number;
  /** Events per source per interval written in full; more are counted. Default 1. */
  readonly burst?: number;
  /** Lines written in full per interval, all sources together; more events are counted. Default 100. */
  readonly maxLines?: number;
  /** Sources tracked at once; events of others are counted together under `source=other`. Default 1024. */
  readonly maxSources?: number;
}

export const WARN_INTERVAL_MS = 60_000;
export const WARN_MAX_LINES = 100;
export const WARN_MAX_SOURCES = 1024;
const OTHER = 'other';

interface Entry {
  /** Lines written in full this interval. */
  written: number;
  /** Events counted, not yet written. */
  pending: number;
}

/**
 * Warnings that a peer can cause at will (a wrong token, a refused
 * attempt), written so it cannot flood the log: a source's first `burst`
 * events of an interval are written in full; later ones are only counted,
 * and written as one summary line per source (`count=N`) when the interval
 * ends. A source still going then stays counted-only; a quiet one is
 * forgotten. Invariant: per interval at most `maxLines` full lines and
 * `maxSources + 1` summary lines, whatever the number of sources.
 */
export class WarnAggregator {
  readonly #logger: Logger;
  readonly #msg: string;
  readonly #intervalMs: number;
  readonly #burst: number;
  readonly #maxLines: number;
  readonly #maxSources: number;
  readonly #entries = new Map<string, Entry>();
  #lines = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: WarnAggregatorOptions) {
    this.#logger = opts.logger;
    this.#msg = opts.msg;
    this.#intervalMs = opts.intervalMs ?? WARN_INTERVAL_MS;
    this.#burst = opts.burst ?? 1;
    this.#maxLines = opts.maxLines ?? WARN_MAX_LINES;
    this.#maxSources = opts.maxSources ?? WARN_MAX_SOURCES;
  }

  /** Records one event of `source`; `fields` are written only within the source's and the interval's budgets. */
  note(source: string, fields: LogFields): void {
    const key = this.#entries.has(source) || this.#entries.size < this.#maxSources ? source : OTHER;
    let entry = this.#entries.get(key);
    if (!entry) this.#entries.set(key, (entry = { written: 0, pending: 0 }));
    if (entry.written < this.#burst && this.#lines < this.#maxLines) {
      entry.written++;
      this.#lines++;
      this.#logger.warn(this.#msg, { source, ...fields });
    } else {
      entry.pending++;
    }
    if (!this.#timer) {
      this.#timer = setInterval(() => this.flush(), this.#intervalMs);
      this.#timer.unref();
    }
  }

  /** Ends an interval: one summary line per source with counted events. */
  flush(): void {
    for (const [source, entry] of this.#entries) {
      if (entry.pending === 0) {
        this.#entries.delete(source);
        continue;
      }
      this.#logger.warn(`${this.#msg} (repeated)`, { source, count: entry.pending, interval: formatDuration(this.#intervalMs) });
      entry.pending = 0;
      entry.written = this.#burst;
    }
    this.#lines = 0;
    if (this.#entries.size === 0) this.#stopTimer();
  }

  /** Writes what is pending and stops the timer. */
  close(): void {
    this.flush();
    this.#entries.clear();
    this.#stopTimer();
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
