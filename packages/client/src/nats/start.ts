import type { ClientConfig } from '../config.js';
import type { LinkDeps } from '../targets/target-runner.js';
import { NatsLink } from './nats-link.js';
import { BufferReclaimer } from '@pushprox/shared';
import { FALLBACK_SCRAPE_TIMEOUT_MS } from '../scraping/job.js';
import { ScrapeScheduler } from '../scraping/scheduler.js';
import { TokenFile } from '../http/token-file.js';

/**
 * The client's NATS side (--nats-url): its own scheduler (its own
 * --scrape.concurrency) and the link. Every scrape it takes is answered
 * through the NATS push sink, so the `push` options below are never used:
 * they only satisfy the scheduler's contract.
 */
export function startNatsLink(config: ClientConfig, deps: LinkDeps): { link: NatsLink; scheduler: ScrapeScheduler } {
  const scheduler = new ScrapeScheduler(config.scrapeConcurrency, {
    fqdn: config.fqdn,
    policy: config.scrapePolicy,
    dispatcher: deps.dispatchers.target,
    targetToken: config.tokenPath === undefined ? undefined : new TokenFile(config.tokenPath),
    push: { origin: 'http://nats.invalid', path: '/push', dispatcher: deps.dispatchers.proxy },
    metrics: deps.metrics,
    logger: deps.logger,
    fallbackTimeoutMs: deps.opts.fallbackScrapeTimeoutMs ?? FALLBACK_SCRAPE_TIMEOUT_MS,
    reclaimer: new BufferReclaimer(),
  });
  const link = new NatsLink(config.nats!, config.fqdn, scheduler, deps.logger);
  link.start();
  return { link, scheduler };
}
