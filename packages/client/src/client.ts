import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { BufferReclaimer, ERROR_CODES, formatDuration, messageOf, PushProxError, silentLogger, type Logger } from '@pushprox/shared';
import { ClientDispatchers } from './http/reloadable-dispatchers.js';
import type { ClientConfig } from './config.js';
import { FALLBACK_SCRAPE_TIMEOUT_MS } from './scraping/job.js';
import { ClientMetrics, startMetricsServer, type MetricsServer } from './metrics.js';
import { DEFAULT_POLL_HEADERS_TIMEOUT_MS, type PollMode } from './transport/poller.js';
import { ProxyTransport } from './transport/transport.js';
import { ScrapeScheduler } from './scraping/scheduler.js';
import { loadTlsFiles } from './http/tls-files.js';
import { TokenFile } from './http/token-file.js';

export interface StartClientOptions {
  /** Default silentLogger. */
  readonly logger?: Logger;
  /** Where the client's metrics go. Default: a new Registry. */
  readonly registry?: Registry;
  /** How long a poll may wait for its reply head before it is re-sent. Default 10 min. */
  readonly pollHeadersTimeoutMs?: number;
  /** A poll held this long and then cut is re-sent without counting an error. Default 10 s (DEFAULT_POLL_CUT_AFTER_MS). */
  readonly pollCutAfterMs?: number;
  /** Jitter source for the poll backoff. Default Math.random. */
  readonly backoffRandom?: () => number;
  /** Scrape timeout when the request carries none. Default 15 s. */
  readonly fallbackScrapeTimeoutMs?: number;
  /** Where HTTP_PROXY/HTTPS_PROXY/NO_PROXY are read. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** With config.channel: how long an extra idle channel stays open. Default 120 s (DEFAULT_CHANNEL_LINGER_MS). */
  readonly channelLingerMs?: number;
  /** With config.channel: first wait before a refused or lost channel is tried again. Default 60 s (CHANNEL_RETRY_AFTER_MS). */
  readonly channelRetryAfterMs?: number;
  /** After a TLS reload, how long the old connections may finish their requests. Default 30 s (DEFAULT_RETIRE_GRACE_MS). */
  readonly tlsReloadGraceMs?: number;
}

export interface RunningClient {
  readonly metrics: ClientMetrics;
  /** Where metrics are served; undefined when disabled or the port was taken. */
  readonly metricsAddress: AddressInfo | undefined;
  /** What the proxy's replies said so far: 'single' until a reply lists multi-poll; 'channel' once a channel is open. */
  readonly pollMode: PollMode | 'channel';
  /**
   * Poll loops (or channels) running now: 1, or under multi-poll one more than
   * the scrapes lately in flight, up to scrape.concurrency.
   */
  readonly pollLoops: number;
  /** Scrapes running / waiting for a slot. */
  readonly scrapesRunning: number;
  readonly scrapesWaiting: number;
  /**
   * Stops polling (waiting polls are aborted), lets accepted scrapes finish
   * and push within config.shutdownTimeoutMs (then aborts them), closes the
   * metrics server and all connections. Idempotent.
   */
  stop(): Promise<void>;
  /**
   * Re-reads the --tls.cacert/--tls.cert/--tls.key files (config.tlsFiles);
   * new polls and pushes (and scrapes, when targets share --tls.*) use the new
   * material, requests running now finish on the old. On a bad file the old
   * material stays in use, an error is logged and the promise rejects with a
   * message naming the flag and file. Reloads run one at a time.
   */
  reloadTls(): Promise<void>;
}

/** Wires poller → scheduler → scrape → push over two dispatchers: the proxy's and the targets' (see ClientDispatchers). */
export async function startClient(config: ClientConfig, opts: StartClientOptions = {}): Promise<RunningClient> {
  const logger = opts.logger ?? silentLogger;
  const metrics = new ClientMetrics(opts.registry);
  const dispatchers = new ClientDispatchers({
    proxyTls: config.tls,
    targetTls: config.scrapeTls,
    insecureSkipVerify: config.insecureSkipVerify ?? false,
    env: opts.env,
    retireGraceMs: opts.tlsReloadGraceMs,
  });
  const metricsServer: MetricsServer | undefined = config.metricsAddr
    ? await startMetricsServer(config.metricsAddr, metrics.registry, logger)
    : undefined;

  logger.info('URL and FQDN info', { proxy_url: config.proxyUrl, fqdn: config.fqdn });
  const policy = config.scrapePolicy;
  if (policy.allowPorts || policy.allow || policy.useLocalhost) {
    logger.info('Scrape restrictions', {
      allow_port: policy.allowPorts?.join(',') ?? 'any',
      scrape_allow: policy.allow?.map((p) => p.source).join(',') ?? 'any',
      use_localhost: policy.useLocalhost,
      methods: policy.methods.join(','),
    });
  }
  if (dispatchers.proxies) logger.info('Using forward proxies from the environment', { ...dispatchers.proxies });
  if (config.insecureSkipVerify) {
    logger.warn("--insecure-skip-verify is set: certificates of https targets are not verified (the proxy's still are)");
  }

  const pushUrl = new URL(config.pushUrl);
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
      pollUrl: config.pollUrl,
      authorization: config.authorization,
      fqdn: config.fqdn,
      capacity: config.scrapeConcurrency,
      dispatcher: dispatchers.proxy,
      retryInitialWaitMs: config.retryInitialWaitMs,
      retryMaxWaitMs: config.retryMaxWaitMs,
      retryFastPeriodMs: config.retryFastPeriodMs,
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
  metrics.watchChannels(() => (transport.mode === 'channel' ? transport.loops : 0));
  transport.start();

  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    await transport.stop();
    const drained = await scheduler.drain(config.shutdownTimeoutMs);
    transport.destroy();
    if (!drained) logger.warn('Shutdown timeout reached; aborted the scrapes still running', { timeout: formatDuration(config.shutdownTimeoutMs) });
    await metricsServer?.close();
    await reloading.catch(() => undefined);
    await dispatchers.destroy();
  };

  let reloading: Promise<void> = Promise.resolve();
  const reload = async (): Promise<void> => {
    if (stopping) throw new PushProxError(ERROR_CODES.SHUTTING_DOWN, 'cannot reload TLS: the client is stopping');
    const files = config.tlsFiles;
    if (!files) return;
    try {
      dispatchers.useProxyTls(await loadTlsFiles('tls', files));
    } catch (err) {
      logger.error('TLS reload failed; still using the previous certificates', { err: messageOf(err) });
      throw err;
    }
    logger.info('Reloaded TLS files', {
      ...Object.fromEntries(Object.entries(files).filter(([, file]) => Boolean(file))),
      targets_too: dispatchers.targetsUseProxyTls,
    });
  };

  return {
    metrics,
    metricsAddress: metricsServer?.address,
    get pollMode() {
      return transport.mode;
    },
    get pollLoops() {
      return transport.loops;
    },
    get scrapesRunning() {
      return scheduler.running;
    },
    get scrapesWaiting() {
      return scheduler.waiting;
    },
    stop: () => (stopping ??= stop()),
    reloadTls: () => {
      const next = reloading.then(reload);
      reloading = next.catch(() => undefined);
      return next;
    },
  };
}
