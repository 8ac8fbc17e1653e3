import { performance } from 'node:perf_hooks';
import { ERROR_CODES, formatDuration, messageOf, PushProxError, type Logger } from '@pushprox/shared';
import { ScrapeJob, type JobDeps, type PushRoute } from './job.js';
import type { ScrapeRequest } from '../transport/scrape-request.js';
import type { PushPollWait } from '../transport/push-poll.js';

/** A scrape waiting for a slot: `start` runs it. */
interface Waiting {
  readonly start: () => void;
}

/**
 * Runs scrapes at most `concurrency` at a time, like upstream's goroutine per
 * scrape but bounded. Admission rule: a scrape waits in the queue only if
 * fewer than `concurrency` are already waiting, and only until the moment it
 * would have to give up anyway (its scrape end); otherwise the proxy gets a
 * 503 `client overloaded: …` push at once instead of a late timeout.
 *
 * The queue is a plain array and a counter rather than p-queue: at one
 * scrape every few seconds its promises and events ran cold on every scrape
 * (about 3% of the client's CPU per scrape), for a queue of at most
 * `concurrency` entries.
 */
export class ScrapeScheduler {
  readonly #concurrency: number;
  /** Scrapes in a slot now, at most #concurrency. */
  #running = 0;
  /** Scrapes waiting for a slot, oldest first; at most #concurrency (the admission rule). */
  readonly #waiting: Waiting[] = [];
  readonly #deps: JobDeps;
  readonly #logger: Logger;
  readonly #inflight = new Set<Promise<unknown>>();
  /** Jobs submitted and not yet disposed: a hard stop aborts each. */
  readonly #jobs = new Set<ScrapeJob>();
  #hardStop: Error | undefined;

  constructor(concurrency: number, deps: JobDeps) {
    this.#concurrency = concurrency;
    this.#deps = deps;
    this.#logger = deps.logger;
  }

  /** Scrapes running now. */
  get running(): number {
    return this.#running;
  }

  /** Scrapes waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Takes a scrape off the poller and returns at once; the promise settles
   * when the scrape has been pushed (never rejects), with the poll's wait if
   * `route` asked for push-and-poll and the proxy took the push as a poll.
   */
  submit(request: ScrapeRequest, route?: PushRoute): Promise<PushPollWait | undefined> {
    const job = new ScrapeJob(request, this.#deps);
    if (this.#hardStop) job.abort(this.#hardStop);
    this.#jobs.add(job);
    if (this.#waiting.length >= this.#concurrency) {
      const err = this.#overloaded(`${this.#running} scrapes running and ${this.#waiting.length} waiting (--scrape.concurrency=${this.#concurrency})`);
      return this.#track(job.fail(err, route).finally(() => this.#retire(job)));
    }
    // A free slot (the usual case): the job starts within submit().
    if (this.#running < this.#concurrency && this.#waiting.length === 0) return this.#track(this.#start(job, route));
    const queuedAt = performance.now();
    return this.#track(
      new Promise<PushPollWait | undefined>((resolve) => {
        const entry: Waiting = {
          start: () => {
            clearTimeout(timer);
            resolve(this.#start(job, route));
          },
        };
        // A waiting scrape gives up when it could no longer finish in time (its scrape end).
        const timer = setTimeout(() => {
          const at = this.#waiting.indexOf(entry);
          if (at >= 0) this.#waiting.splice(at, 1);
          const waited = formatDuration(Math.round(performance.now() - queuedAt));
          const err = this.#overloaded(`scrape waited ${waited} for one of ${this.#concurrency} slots (--scrape.concurrency) and would start after its deadline`);
          resolve(job.fail(err, route).finally(() => this.#retire(job)));
        }, job.scrapeEndAt - performance.now());
        this.#waiting.push(entry);
      }),
    );
  }

  /** Runs `job` in a slot; when it is done the slot goes to the oldest waiting scrape. */
  #start(job: ScrapeJob, route: PushRoute | undefined): Promise<PushPollWait | undefined> {
    this.#running++;
    return job
      .run(route)
      .catch((err: unknown) => {
        this.#logger.error('Scrape task failed unexpectedly', { scrape_id: job.id, err: messageOf(err) });
        return undefined;
      })
      .finally(() => {
        this.#running--;
        this.#retire(job);
        this.#waiting.shift()?.start();
      });
  }

  /**
   * Waits for every accepted scrape to finish and push, at most `timeoutMs`;
   * then aborts what is left and waits for it to unwind. Returns false if the
   * time ran out.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const finished = await this.#settle(timeoutMs);
    if (!finished) {
      this.#hardStop = new Error('client stopped before the scrape finished');
      for (const job of this.#jobs) job.abort(this.#hardStop);
      await this.#settle(1000);
    }
    return finished;
  }

  async #settle(timeoutMs: number): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      // Loop: a scrape may still be submitted while draining (a poll answered just before stop).
      while (this.#inflight.size > 0) {
        const left = end - performance.now();
        if (left <= 0) return false;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), left);
        });
        const r = await Promise.race([Promise.allSettled([...this.#inflight]), timedOut]);
        clearTimeout(timer);
        if (r === 'timeout') return false;
      }
      return true;
    } finally {
      clearTimeout(timer);
    }
  }

  #retire(job: ScrapeJob): void {
    job.dispose();
    this.#jobs.delete(job);
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    void p.finally(() => this.#inflight.delete(p));
    return p;
  }

  #overloaded(detail: string): PushProxError {
    return new PushProxError(ERROR_CODES.CLIENT_OVERLOADED, `client overloaded: ${detail}`);
  }
}
