import { BufferReclaimer, type Logger } from '@pushprox/shared';
import type { ClientDispatchers } from '../http/reloadable-dispatchers.js';
import type { ClientConfig, ProxyEndpoint } from '../config.js';
import type { ClientMetrics } from '../metrics.js';
import { FALLBACK_SCRAPE_TIMEOUT_MS } from '../scraping/job.js';
import { ScrapeScheduler } from '../scraping/scheduler.js';
import { TokenFile } from '../http/token-file.js';
import { DEFAULT_POLL_HEADERS_TIMEOUT_MS } from '../transport/poller.js';
import { ProxyTransport } from '../transport/transport.js';
import type { ClientTarget } from './targets.js';
import { LinkStatus, type ClientStatusLog } from '../status/recorder.js';
import type { ModuleHost } from '../modules/host.js';
import { describeProxyError } from '../transport/proxy-error.js';

/**
 * The scrapes of one FQDN: its scheduler (at most --scrape.concurrency
 * scrapes, checked against this FQDN's policy) and its transport (polls or
 * channels that say this FQDN and carry its client metadata). A gateway runs
 * one per FQDN over the client's shared dispatchers and metrics.
 */
export interface TargetRunner {
  readonly fqdn: string;
  /** The --proxy-url this runner polls. */
  readonly proxyUrl: string;
  /** Its link's state for the status page. */
  readonly link: LinkStatus;
  readonly scheduler: ScrapeScheduler;
  readonly transport: ProxyTransport;
}

/** The parts of StartClientOptions a target uses (see there for defaults). */
export interface TargetRunnerOptions {
  readonly fallbackScrapeTimeoutMs?: number;
  readonly channelRetryAfterMs?: number;
  readonly pollHeadersTimeoutMs?: number;
  readonly pollCutAfterMs?: number;
  readonly backoffRandom?: () => number;
  readonly channelLingerMs?: number;
}

/** What a scrape path needs of the client besides the config: shared by the targets and the NATS link (nats/start.ts). */
export interface LinkDeps {
  readonly dispatchers: ClientDispatchers;
  readonly metrics: ClientMetrics;
  readonly logger: Logger;
  readonly opts: TargetRunnerOptions;
}

export function startTarget(
  target: ClientTarget,
  clientMeta: () => string,
  endpoint: ProxyEndpoint,
  config: ClientConfig,
  deps: { readonly dispatchers: ClientDispatchers; readonly metrics: ClientMetrics; readonly logger: Logger; readonly opts: TargetRunnerOptions; readonly status?: ClientStatusLog; readonly modules?: ModuleHost | undefined },
): TargetRunner {
  const { dispatchers, metrics, logger, opts, status, modules } = deps;
  const link = new LinkStatus();
  const pushUrl = new URL(endpoint.pushUrl);
  const scheduler = new ScrapeScheduler(config.scrapeConcurrency, {
    fqdn: target.fqdn,
    policy: config.scrapePolicy,
    dispatcher: dispatchers.target,
    plainHttp: dispatchers.plainTarget,
    targetToken: config.tokenPath === undefined ? undefined : new TokenFile(config.tokenPath),
    push: { origin: pushUrl.origin, path: pushUrl.pathname + pushUrl.search, dispatcher: dispatchers.proxy, authorization: config.authorization },
    metrics,
    logger,
    fallbackTimeoutMs: opts.fallbackScrapeTimeoutMs ?? FALLBACK_SCRAPE_TIMEOUT_MS,
    reclaimer: new BufferReclaimer(),
    modules,
    ...(status && { onOutcome: (o) => status.scrape(o) }),
  });
  const transport = new ProxyTransport({
    ...(opts.channelRetryAfterMs !== undefined && { channelRetryAfterMs: opts.channelRetryAfterMs }),
    onChannelDown: (err, retryMs) => link.channelDown(describeProxyError(err), retryMs),
    poller: {
      pollUrl: endpoint.pollUrl,
      authorization: config.authorization,
      fqdn: target.fqdn,
      clientMeta,
      capacity: config.scrapeConcurrency,
      dispatcher: dispatchers.proxy,
      retryInitialWaitMs: config.retryInitialWaitMs,
      retryMaxWaitMs: config.retryMaxWaitMs,
      retryFastPeriodMs: config.retryFastPeriodMs,
      logger,
      onScrape: (request, ask) => scheduler.submit(request, ask),
      onPollError: () => metrics.pollErrors.inc(),
      onBackoff: (err, waitMs) => link.backoff(describeProxyError(err), waitMs),
      onPollOk: () => link.pollOk(),
      headersTimeoutMs: opts.pollHeadersTimeoutMs ?? DEFAULT_POLL_HEADERS_TIMEOUT_MS,
      ...(opts.pollCutAfterMs !== undefined && { cutAfterMs: opts.pollCutAfterMs }),
      ...(opts.backoffRandom && { random: opts.backoffRandom }),
    },
    ...(config.channel && {
      channel: {
        onScrape: (request, via) => scheduler.submit(request, via),
        // As a non-2xx answer to POST /push would be.
        onPushRefused: () => metrics.pushErrors.inc(),
        ...(opts.channelLingerMs !== undefined && { lingerMs: opts.channelLingerMs }),
      },
    }),
  });
  return { fqdn: target.fqdn, proxyUrl: endpoint.proxyUrl, link, scheduler, transport };
}
