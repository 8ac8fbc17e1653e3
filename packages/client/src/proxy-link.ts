import { BufferReclaimer, type Logger } from '@pushprox/shared';
import type { ClientDispatchers } from './http/reloadable-dispatchers.js';
import type { ClientConfig, ProxyEndpoint } from './config.js';
import type { ClientMetrics } from './metrics.js';
import { FALLBACK_SCRAPE_TIMEOUT_MS } from './scraping/job.js';
import { DEFAULT_POLL_HEADERS_TIMEOUT_MS } from './transport/poller.js';
import { ProxyTransport } from './transport/transport.js';
import { ScrapeScheduler } from './scraping/scheduler.js';
import { TokenFile } from './http/token-file.js';

/** The client's link to one proxy (one --proxy-url): its polls or channels, and the scrapes they bring. */
export interface ProxyLink {
  readonly transport: ProxyTransport;
  readonly scheduler: ScrapeScheduler;
}

export interface LinkDeps {
  readonly dispatchers: ClientDispatchers;
  readonly metrics: ClientMetrics;
  readonly logger: Logger;
  /** The StartClientOptions (client.ts) a link uses; see their defaults there. */
  readonly opts: {
    readonly fallbackScrapeTimeoutMs?: number;
    readonly channelRetryAfterMs?: number;
    readonly pollHeadersTimeoutMs?: number;
    readonly pollCutAfterMs?: number;
    readonly backoffRandom?: () => number;
    readonly channelLingerMs?: number;
  };
}

/**
 * Poller (or channels) → scheduler → scrape → push, for one proxy. Invariant:
 * a scrape is pushed back to the proxy it came from; each link has its own
 * --scrape.concurrency, so one slow proxy's scrapes never take another's slots.
 */
export function startLink(endpoint: ProxyEndpoint, config: ClientConfig, deps: LinkDeps): ProxyLink {
  const { dispatchers, metrics, logger, opts } = deps;
  const pushUrl = new URL(endpoint.pushUrl);
  const scheduler = new ScrapeScheduler(config.scrapeConcurrency, {
    fqdn: config.fqdn,
    policy: config.scrapePolicy,
    dispatcher: dispatchers.target,
    targetToken: config.tokenPath === undefined ? undefined : new TokenFile(config.tokenPath),
    push: { origin: pushUrl.origin, path: pushUrl.pathname + pushUrl.search, dispatcher: dispatchers.proxy, authorization: config.authorization },
    metrics,
    logger,
    fallbackTimeoutMs: opts.fallbackScrapeTimeoutMs ?? FALLBACK_SCRAPE_TIMEOUT_MS,
    reclaimer: new BufferReclaimer(),
  });
  const transport = new ProxyTransport({
    ...(opts.channelRetryAfterMs !== undefined && { channelRetryAfterMs: opts.channelRetryAfterMs }),
    poller: {
      pollUrl: endpoint.pollUrl,
      authorization: config.authorization,
      fqdn: config.fqdn,
      capacity: config.scrapeConcurrency,
      dispatcher: dispatchers.proxy,
      retryInitialWaitMs: config.retryInitialWaitMs,
      retryMaxWaitMs: config.retryMaxWaitMs,
      logger,
      onScrape: (request, ask) => scheduler.submit(request, ask),
      onPollError: () => metrics.pollErrors.inc(),
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
  return { transport, scheduler };
}
