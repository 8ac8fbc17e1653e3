import { performance } from 'node:perf_hooks';
import PQueue from 'p-queue';
import { ERROR_CODES, formatDuration, messageOf, PushProxError, type Logger } from '@pushprox/shared';
import { ScrapeJob, type JobDeps, type PushRoute } from './job.js';
import type { ScrapeRequest } from '../transport/scrape-request.js';
import type { PushPollWait } from '../transport/push-poll.js';

/**
 * Runs scrapes at most `concurrency` at a time, like upstream's goroutine per
 * scrape but bounded. Admission rule: a scrape waits in the queue only if
 * fewer than `concurrency` are already waiting, and only until the moment it
 * would have to give up anyway (its scrape end); otherwise the proxy gets a
 * 503 `client overloaded: …` push at once instead of a late timeout.
 */
export class ScrapeScheduler {
  readonly #queue: PQueue;
  readonly #concurrency: number;
  readonly #deps: JobDeps;
  readonly #logger: Logger;
  readonly #inflight = new Set<Promise<unknown>>();
  /** Jobs submitted and not yet disposed: a hard stop aborts each. */
  readonly #jobs = new Set<ScrapeJob>();
  #hardStop: Error | undefined;

  constructor(concurrency: number, deps: JobDeps) {
    this.#concurrency = concurrency;
    this.#queue = new PQueue({ concurrency });
    this.#deps = deps;
    this.#logger = deps.logger;
  }

  /** Scrapes running now. */
  get running(): number {
    return this.#queue.pending;
  }

  /** Scrapes waiting for a slot. */
  get waiting(): number {
    return this.#queue.size;
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
    if (this.#queue.size >= this.#concurrency) {
      const err = this.#overloaded(
        `${this.#queue.pending} scrapes running and ${this.#queue.size} waiting (--scrape.concurrency=${this.#concurrency})`,
      );
      return this.#track(job.fail(err, route).finally(() => this.#retire(job)));
    }
    // With a slot free, p-queue starts the task within add(): nothing to bound.
    const starts = this.#queue.size === 0 && this.#queue.pending < this.#concurrency;
    const wait = starts ? undefined : new AbortController();
    // Cleared by the task itself as it starts, so `wait` never aborts a running task
    // (p-queue would free the slot while the task still runs).
    const waitTimer = wait && setTimeout(() => wait.abort(), job.scrapeEndAt - performance.now());
    const queuedAt = performance.now();
    const task = this.#queue
      .add(
        () => {
          clearTimeout(waitTimer);
          return job.run(route);
        },
        wait && { signal: wait.signal },
      )
      .catch((err: unknown) => {
        if (!wait?.signal.aborted) {
          this.#logger.error('Scrape task failed unexpectedly', { scrape_id: job.id, err: messageOf(err) });
          return undefined;
        }
        const waited = formatDuration(Math.round(performance.now() - queuedAt));
        return job.fail(
          this.#overloaded(
            `scrape waited ${waited} for one of ${this.#concurrency} slots (--scrape.concurrency) and would start after its deadline`,
          ),
          route,
        );
      })
      .finally(() => {
        clearTimeout(waitTimer);
        this.#retire(job);
      });
    return this.#track(task);
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
