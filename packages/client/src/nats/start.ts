import type { ClientConfig } from '../config.js';
import type { LinkDeps } from '../targets/target-runner.js';
import type { ClientTarget } from '../targets/targets.js';
import type { ClientStatusLog } from '../status/recorder.js';
import type { ModuleHost } from '../modules/host.js';
import { NatsLink } from './nats-link.js';
import { BufferReclaimer } from '@pushprox/shared';
import { FALLBACK_SCRAPE_TIMEOUT_MS } from '../scraping/job.js';
import { ScrapeScheduler } from '../scraping/scheduler.js';
import { TokenFile } from '../http/token-file.js';

/** What the NATS side shares with the proxy side of a client besides LinkDeps. */
export interface NatsLinkDeps extends LinkDeps {
  readonly status?: ClientStatusLog;
  readonly modules?: ModuleHost | undefined;
}

/**
 * The client's NATS side (--nats-url): one scheduler per FQDN (each its own
 * --scrape.concurrency, checked against its policy, with the modules) and one
 * link for all. Every scrape it takes is answered through the NATS push
 * sink, so the `push` options below are never used: they only satisfy the
 * scheduler's contract.
 */
export function startNatsLink(config: ClientConfig, targets: readonly ClientTarget[], metaOf: (i: number) => string, deps: NatsLinkDeps): { link: NatsLink; schedulers: readonly ScrapeScheduler[] } {
  const { status, modules } = deps;
  const schedulers = targets.map(
    (t) =>
      new ScrapeScheduler(config.scrapeConcurrency, {
        fqdn: t.fqdn,
        policy: config.scrapePolicy,
        dispatcher: deps.dispatchers.target,
        plainHttp: deps.dispatchers.plainTarget,
        targetToken: config.tokenPath === undefined ? undefined : new TokenFile(config.tokenPath),
        push: { origin: 'http://nats.invalid', path: '/push', dispatcher: deps.dispatchers.proxy },
        metrics: deps.metrics,
        logger: targets.length > 1 ? deps.logger.child({ fqdn: t.fqdn }) : deps.logger,
        fallbackTimeoutMs: deps.opts.fallbackScrapeTimeoutMs ?? FALLBACK_SCRAPE_TIMEOUT_MS,
        reclaimer: new BufferReclaimer(),
        modules,
        ...(status && { onOutcome: (o) => status.scrape(o) }),
      }),
  );
  const link = new NatsLink(
    config.nats!,
    targets.map((t, i) => ({ fqdn: t.fqdn, scheduler: schedulers[i]!, meta: () => metaOf(i) })),
    deps.logger,
  );
  link.start();
  return { link, schedulers };
}
