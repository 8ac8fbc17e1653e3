import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import {
  ERROR_CODES,
  formatDuration,
  HEADER_ID,
  messageOf,
  PushProxError,
  statusOf,
  type BufferReclaimer,
  type Logger,
} from '@pushprox/shared';
import { AbortToken } from './abort-token.js';
import type { ClientMetrics } from '../metrics.js';
import { errorPayload, refusedAsTooLarge, responsePayload, sendPush, tooLargeText, type PushOptions, type PushPayload, type RelayedResponse } from '../transport/push.js';
import type { ModuleHost } from '../modules/host.js';
import { matchModuleRoute, onVirtualHost, type ModuleRoute } from '../modules/route.js';
import { ExporterBodyError } from './exporter-body.js';
import type { PushSink } from '../transport/channel.js';
import type { PushPollAsk, PushPollWait } from '../transport/push-poll.js';
import type { ScrapeRequest } from '../transport/scrape-request.js';
import { describeError, parseScrapeTimeout, scrapeTarget, sendScrape } from './scrape.js';
import { checkTarget, DEFAULT_SCRAPE_POLICY, localTarget, type Refusal, type ScrapePolicy } from './scrape-policy.js';
import type { TokenFile } from '../http/token-file.js';
import type { PlainHttp } from '../exporter-http/plain-http.js';

/**
 * Where a job's push goes: POST /push, with a PushPollAsk when the push is
 * to be answered as the next poll (push-and-poll), or a PushSink: the
 * channel the request came on.
 */
export type PushRoute = PushPollAsk | PushSink;

function isSink(route: PushRoute | undefined): route is PushSink {
  return route !== undefined && 'send' in route;
}

/** Longest delay setTimeout takes (about 24.8 days); longer timeouts are cut to it. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Used when the request has no usable X-Prometheus-Scrape-Timeout-Seconds (upstream proxies' default). */
export const FALLBACK_SCRAPE_TIMEOUT_MS = 15_000;

/**
 * Time kept back from the scrape so that an error push (timeout) still
 * reaches the proxy before the proxy itself gives up: 10 % of the timeout,
 * at most 500 ms.
 */
export function pushReserveMs(timeoutMs: number): number {
  return Math.min(timeoutMs * 0.1, 500);
}

/** How one scrape ended at this client. */
export interface ScrapeOutcome {
  /** The request target as the proxy sent it. */
  readonly target: string;
  /** The exporter's status; for a failed or refused scrape, the status pushed instead. */
  readonly status: number;
  readonly durationMs: number;
  /** Why the scrape failed or was refused; undefined when the exporter answered. */
  readonly error?: string;
  /** The policy's reason (scrape-policy.ts) when the scrape was refused. */
  readonly refused?: string;
}

/** What a job counts; ClientMetrics has it. */
export interface JobMetrics {
  readonly scrapeErrors: Pick<ClientMetrics['scrapeErrors'], 'inc'>;
  readonly pushErrors: Pick<ClientMetrics['pushErrors'], 'inc'>;
  readonly scrapesRefused: Pick<ClientMetrics['scrapesRefused'], 'inc'>;
}

export interface JobDeps {
  readonly fqdn: string;
  /** What may be scraped. Default DEFAULT_SCRAPE_POLICY (anything upstream would, GET and HEAD only). */
  readonly policy?: ScrapePolicy;
  /** For the targets (the proxy has its own, in `push`). */
  readonly dispatcher: Dispatcher;
  /** For plain-http targets' GET and HEAD when no forward proxy is set (plain-http.ts). Default none: all go through `dispatcher`. */
  readonly plainHttp?: PlainHttp | undefined;
  /** --token-path: bearer token for targets, unless the request has its own Authorization. Default none. */
  readonly targetToken?: TokenFile | undefined;
  readonly push: PushOptions;
  readonly metrics: JobMetrics;
  readonly logger: Logger;
  /** Told how each scrape ended (the status page). Default none. */
  readonly onOutcome?: (outcome: ScrapeOutcome) => void;
  /** Default FALLBACK_SCRAPE_TIMEOUT_MS. */
  readonly fallbackTimeoutMs?: number;
  /** Frees relayed socket buffers as bodies stream through; shared by all jobs. */
  readonly reclaimer?: BufferReclaimer;
  /** --config.file/--config.dirs modules, served on the client's virtual host. Default none: upstream's behaviour. */
  readonly modules?: ModuleHost | undefined;
}

/**
 * One scrape from poll reply to push. Its signal aborts at the deadline
 * (receivedAt + scrape timeout) or on `abort()` (the client stopped hard);
 * the scrape itself must have its response head by `scrapeEndAt`, so a
 * timeout can still be reported. Invariant: every job ends in exactly one
 * push attempt (response or error) unless the deadline or a hard stop
 * already passed, and `dispose()` is called once it is settled.
 *
 * Per scrape this is one AbortToken and one timer: the timer fires
 * first at `scrapeEndAt` (cutting a scrape still waiting for its head) and
 * is re-armed only then, for the deadline.
 */
export class ScrapeJob {
  readonly id: string;
  readonly request: ScrapeRequest;
  readonly timeoutMs: number;
  /** performance.now() timestamps. */
  readonly deadlineAt: number;
  readonly scrapeEndAt: number;
  readonly #deps: JobDeps;
  /** Replaced once, when a scrape's head times out: the error push still needs a live signal. */
  #token = new AbortToken();
  #timer: NodeJS.Timeout;
  /** The timer is armed for the deadline (it was first armed for scrapeEndAt). */
  #pastScrapeEnd = false;
  /** The scrape request is out and its head has not arrived. */
  #awaitingHead = false;

  constructor(request: ScrapeRequest, deps: JobDeps) {
    this.request = request;
    this.#deps = deps;
    // The poller only hands over requests that have an Id.
    this.id = request.head.headers.get(HEADER_ID) ?? '';
    this.timeoutMs = Math.min(
      parseScrapeTimeout(request.head.headers) ?? deps.fallbackTimeoutMs ?? FALLBACK_SCRAPE_TIMEOUT_MS,
      MAX_TIMER_MS,
    );
    this.deadlineAt = request.receivedAt + this.timeoutMs;
    this.scrapeEndAt = this.deadlineAt - pushReserveMs(this.timeoutMs);
    this.#timer = setTimeout(this.#onTimer, this.scrapeEndAt - performance.now());
  }

  readonly #onTimer = (): void => {
    if (this.#pastScrapeEnd) {
      this.#token.abort(new Error('scrape deadline passed'));
      return;
    }
    this.#pastScrapeEnd = true;
    this.#timer = setTimeout(this.#onTimer, this.deadlineAt - performance.now());
    if (this.#awaitingHead) {
      const scrape = this.#token;
      this.#token = new AbortToken();
      scrape.abort(new Error('scrape timeout'));
    }
  };

  /** Ends the job's work at once (the client is stopping hard). */
  abort(reason: Error): void {
    this.#token.abort(reason);
  }

  get signal(): AbortToken {
    return this.#token;
  }

  remainingMs(): number {
    return this.deadlineAt - performance.now();
  }

  dispose(): void {
    clearTimeout(this.#timer);
  }

  /**
   * Scrapes the target and pushes the response, or pushes the error. Never
   * throws. With a PushPollAsk `route`, resolves to the poll's wait if the proxy answers the
   * push as a poll (push-and-poll).
   */
  async run(route?: PushRoute): Promise<PushPollWait | undefined> {
    const { logger, metrics } = this.#deps;
    const { head, body } = this.request;
    let target;
    try {
      target = scrapeTarget(head.target, this.#deps.fqdn);
    } catch (err) {
      return this.fail(err, route);
    }
    const policy = this.#deps.policy ?? DEFAULT_SCRAPE_POLICY;
    const moduleRoute = this.#deps.modules && onVirtualHost(target) ? matchModuleRoute(target.path) : undefined;
    const refusal = checkTarget(moduleRoute ? { ...policy, allowPorts: undefined, allow: undefined } : policy, head.method, target.url);
    if (refusal) return this.refuse(refusal, route);
    if (moduleRoute) return this.#runModule(this.#deps.modules!, moduleRoute, target.url, route);
    if (policy.useLocalhost) target = localTarget(target);
    let authorization: string | undefined;
    if (this.#deps.targetToken && !head.headers.has('authorization')) {
      try {
        authorization = await this.#deps.targetToken.authorization();
      } catch (err) {
        return this.fail(new PushProxError(ERROR_CODES.CLIENT_SCRAPE_FAILED, `failed to scrape ${target.url}: ${messageOf(err)}`, { cause: err }), route);
      }
    }
    const budgetMs = this.scrapeEndAt - performance.now();
    // The job's signal bounds the scrape until its head arrives; at scrapeEndAt
    // the job's timer aborts it and gives the job a fresh signal for the error push.
    let res: RelayedResponse;
    try {
      if (this.#pastScrapeEnd) throw new Error('scrape timeout');
      if (logger.debugEnabled) logger.debug('Scraping', { scrape_id: this.id, url: target.url });
      this.#awaitingHead = true;
      res = await sendScrape(this.#deps.dispatcher, target, head, body, this.signal, authorization, this.#deps.plainHttp);
    } catch (err) {
      // Past scrapeEndAt the scrape either never started or was cut by the timer.
      const why = this.#pastScrapeEnd
        ? `timeout after ${formatDuration(Math.max(0, Math.round(budgetMs)))} waiting for the response (scrape timeout ${formatDuration(this.timeoutMs)})`
        : this.signal.aborted
          ? messageOf(this.signal.reason)
          : describeError(err);
      return this.fail(new PushProxError(ERROR_CODES.CLIENT_SCRAPE_FAILED, `failed to scrape ${target.url}: ${why}`, { cause: err }), route);
    } finally {
      this.#awaitingHead = false;
    }
    if (logger.debugEnabled) logger.debug('Retrieved scrape response', { scrape_id: this.id, status: res.statusCode });
    return this.#relay(res, target.url, route);
  }

  /** Pushes a response (an exporter's or a module's), or the error it breaks with before any of it leaves. */
  async #relay(res: RelayedResponse, url: string, route: PushRoute | undefined): Promise<PushPollWait | undefined> {
    const { logger, metrics } = this.#deps;
    const reclaimer = this.#deps.reclaimer;
    let payload;
    try {
      payload = await responsePayload(res, this.request.head.method, this.id, this.remainingMs(), reclaimer && ((n) => reclaimer.account(n)));
    } catch (err) {
      // A head the codec refuses to write (e.g. a control character undici let
      // through), or a small body that failed while it was collected.
      res.body.destroy();
      // The exporter's body broke before any of it was pushed: the same text a channel's ABORT carries.
      const why = err instanceof ExporterBodyError ? err.message : `response cannot be relayed: ${messageOf(err)}`;
      return this.fail(new PushProxError(ERROR_CODES.CLIENT_SCRAPE_FAILED, `failed to scrape ${url}: ${why}`, { cause: err }), route);
    }
    // One outcome per scrape: a body that breaks while it is collected above is reported by fail() alone.
    this.#deps.onOutcome?.({ target: this.request.head.target, status: res.statusCode, durationMs: performance.now() - this.request.receivedAt });
    try {
      const wait = await this.#push(payload, route);
      if (logger.debugEnabled) logger.debug('Pushed scrape result', { scrape_id: this.id });
      return wait;
    } catch (err) {
      res.body.destroy();
      metrics.pushErrors.inc();
      logger.warn('Failed to push scrape response', { scrape_id: this.id, url, err: this.#pushFailure(err) });
      if (isSink(route)) return undefined;
      if (refusedAsTooLarge(err)) return this.#pushError(err, `failed to scrape ${url}: ${tooLargeText(err, payload)}`, route);
      return undefined;
    }
  }

  /** A request for the client's modules (modules/route.ts): answered by the module list, not by --allow-port or --scrape.allow. */
  async #runModule(modules: ModuleHost, moduleRoute: ModuleRoute, url: string, route: PushRoute | undefined): Promise<PushPollWait | undefined> {
    let res;
    try {
      res = await modules.answer(moduleRoute, { headers: this.request.head.headers, signal: this.signal, budgetMs: this.scrapeEndAt - performance.now() });
    } catch (err) {
      return this.fail(new PushProxError(ERROR_CODES.CLIENT_SCRAPE_FAILED, `failed to scrape ${url}: ${messageOf(err)}`, { cause: err }), route);
    }
    return this.#relay(res, url, route);
  }

  /**
   * Reports a scrape that produced no response: counts a scrape error and
   * pushes the text as a 500 (503 when overloaded), as upstream's handleErr.
   * Never throws.
   */
  async fail(err: unknown, route?: PushRoute): Promise<PushPollWait | undefined> {
    const { logger, metrics } = this.#deps;
    const message = messageOf(err);
    metrics.scrapeErrors.inc();
    this.#deps.onOutcome?.({ target: this.request.head.target, status: statusOf(err), durationMs: performance.now() - this.request.receivedAt, error: message });
    logger.warn('Scrape failed', { scrape_id: this.id, err: message });
    return this.#pushError(err, message, route);
  }

  /**
   * Reports a scrape the policy forbids: counted in scrapes_refused_total
   * (not as a scrape error: it is policy, not a failure) and pushed as a 403
   * with the reason as body and reason phrase. Never throws.
   */
  async refuse(refusal: Refusal, route?: PushRoute): Promise<PushPollWait | undefined> {
    const { logger, metrics } = this.#deps;
    metrics.scrapesRefused.inc({ reason: refusal.reason });
    this.#deps.onOutcome?.({
      target: this.request.head.target,
      status: statusOf(new PushProxError(ERROR_CODES.CLIENT_SCRAPE_REFUSED, refusal.message)),
      durationMs: performance.now() - this.request.receivedAt,
      error: refusal.message,
      refused: refusal.reason,
    });
    logger.warn('Scrape refused', { scrape_id: this.id, reason: refusal.reason, err: refusal.message });
    return this.#pushError(new PushProxError(ERROR_CODES.CLIENT_SCRAPE_REFUSED, refusal.message), refusal.message, route);
  }

  async #pushError(err: unknown, message: string, route: PushRoute | undefined): Promise<PushPollWait | undefined> {
    const { logger, metrics } = this.#deps;
    if (this.signal.aborted) {
      // Nobody waits for a push after the deadline; a hard stop is no time for network calls.
      metrics.pushErrors.inc();
      logger.warn('Failed to push failed scrape response', { scrape_id: this.id, err: messageOf(this.signal.reason) });
      return undefined;
    }
    try {
      const wait = await this.#push(errorPayload(this.id, statusOf(err), message, this.remainingMs()), route);
      if (logger.debugEnabled) logger.debug('Pushed failed scrape response', { scrape_id: this.id });
      return wait;
    } catch (pushErr) {
      metrics.pushErrors.inc();
      logger.warn('Failed to push failed scrape response', { scrape_id: this.id, err: this.#pushFailure(pushErr) });
      return undefined;
    }
  }

  async #push(payload: PushPayload, route: PushRoute | undefined): Promise<PushPollWait | undefined> {
    if (!isSink(route)) return sendPush(this.#deps.push, payload, this.signal, route);
    await route.send(payload, this.signal);
    return undefined;
  }

  #pushFailure(err: unknown): string {
    return this.signal.aborted ? `${messageOf(this.signal.reason)} (${describeError(err)})` : describeError(err);
  }
}
