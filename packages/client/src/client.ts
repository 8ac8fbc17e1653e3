import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { DEFAULT_IDLE_GC_INTERVAL_MS, ERROR_CODES, formatDuration, IdleCollector, messageOf, PushProxError, silentLogger, type Logger } from '@pushprox/shared';
import { ClientDispatchers } from './http/reloadable-dispatchers.js';
import type { ClientConfig } from './config.js';
import { ClientMetrics, startMetricsServer, type MetricsServer } from './metrics.js';
import { DEFAULT_WARM_UP_ROUNDS, warmUpScrapePath } from './scraping/warm-up.js';
import type { PollMode } from './transport/poller.js';
import { loadTlsFiles } from './http/tls-files.js';
import { startTarget, type TargetRunner } from './targets/target-runner.js';
import { clientMetaHeader } from './targets/targets.js';
import { ClientStatusLog, LinkStatus } from './status/recorder.js';
import { createClientStatusHandler } from './status/routes.js';
import { ModuleResultLog, modulesView } from './status/modules.js';
import type { ModuleHost } from './modules/host.js';
import { hasModuleSources } from './modules/flags.js';

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
  /** This client's version, sent in X-Pushprox-Client-Meta and shown on the status page. Default none. */
  readonly version?: string;
  /** How often the client looks for an idle moment to run a full GC (IdleCollector). Default 5 min (DEFAULT_IDLE_GC_INTERVAL_MS); 0 turns it off. */
  readonly idleGcIntervalMs?: number;
  /** Scrapes the client runs against loopback before its first real one (warmUpScrapePath). Default DEFAULT_WARM_UP_ROUNDS (30); 0 turns the warm-up off. */
  readonly warmUpRounds?: number;
}

export interface RunningClient {
  readonly metrics: ClientMetrics;
  /** Where metrics are served; undefined when disabled or the port was taken. */
  readonly metricsAddress: AddressInfo | undefined;
  /** What the (first) proxy's replies said so far: 'single' until a reply lists multi-poll; 'channel' once a channel is open. */
  readonly pollMode: PollMode | 'channel';
  /**
   * Poll loops (or channels) running now: 1, or under multi-poll one more than
   * the scrapes lately in flight, up to scrape.concurrency.
   */
  readonly pollLoops: number;
  /** Scrapes running / waiting for a slot, over every proxy. */
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
  /** The modules (--config.file, --config.dirs); undefined when none are configured. */
  readonly modules: ModuleHost | undefined;
  /** Re-reads the module files (ModuleHost.reload); resolves at once without modules. */
  reloadModules(): Promise<void>;
  /** Where --web.listen-address serves the modules; undefined when not set. */
  readonly webAddress: AddressInfo | undefined;
}

/** The link state shown by a client that polls no proxy (on NATS only, or serving its modules only). */
const NO_LINK = new LinkStatus();

function sum<T>(items: readonly T[], f: (item: T) => number): number {
  let n = 0;
  for (const item of items) n += f(item);
  return n;
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
  const log = new ClientStatusLog();
  // Filled once the targets start; the status page may be asked before (its listener starts first).
  let runners: readonly TargetRunner[] = [];
  const moduleResults = new ModuleResultLog();
  const statusPage = createClientStatusHandler(() => ({
    version: opts.version ?? '',
    proxyUrl: config.proxyUrl,
    fqdn: config.fqdn,
    // The first link, as the page's heading shows it; every link (each --proxy-url for each FQDN) below.
    connection: (runners[0]?.link ?? NO_LINK).connection({ mode: runners[0]?.transport.mode ?? 'single', loops: runners[0]?.transport.loops ?? 0 }),
    connections: runners.map((r) => ({ proxyUrl: r.proxyUrl, fqdn: r.fqdn, ...r.link.connection({ mode: r.transport.mode, loops: r.transport.loops }) })),
    scrapes: { running: sum(runners, (r) => r.scheduler.running), waiting: sum(runners, (r) => r.scheduler.waiting) },
    history: log.history(),
    // null without module files; after a reload, the set now in force.
    modules: modules ? modulesView(modules.set, moduleResults, modules.lastReload) : null,
  }));
  // Loaded only with module files: most clients have none.
  const modules = hasModuleSources(config.modules)
    ? await (await import('./modules/host.js')).ModuleHost.start(config.modules, {
        logger,
        registry: metrics.registry,
        targets: dispatchers.target,
        onResult: (r) => moduleResults.record(r),
      })
    : undefined;
  const metricsServer: MetricsServer | undefined = config.metricsAddr
    ? await startMetricsServer(config.metricsAddr, metrics.registry, logger, statusPage)
    : undefined;

  // The header each target sends: its labels, the modules in force and the version; re-made after each module reload.
  const targets = config.targets ?? [{ fqdn: config.fqdn, labels: {}, modules: [] }];
  const metaOf = (t: (typeof targets)[number]): string => clientMetaHeader(modules ? { ...t, modules: modules.meta() } : t, opts.version);
  let metaHeaders = targets.map(metaOf);
  const reloadModules = async (): Promise<void> => {
    try {
      await modules?.reload();
    } finally {
      try {
        const before = metaHeaders;
        metaHeaders = targets.map(metaOf);
        for (const r of runners) {
          const i = targets.findIndex((t) => t.fqdn === r.fqdn);
          if (metaHeaders[i] !== before[i]) r.transport.renewChannels('Modules changed; reopening the channel so that the proxy lists them');
        }
      } catch (err) {
        logger.error('The reloaded modules cannot be announced to the proxy; it keeps listing the previous ones', { err: messageOf(err) });
      }
    }
  };
  // Loaded only with --web.listen-address: most clients have no listener of their own.
  const direct = config.web
    ? await (await import('./web/direct-server.js')).startDirectServer({
        ...config.web,
        webConfigFile: config.web.configFile,
        modules,
        registry: metrics.registry,
        logger,
        reload: reloadModules,
      })
    : undefined;

  logger.info('URL and FQDN info', { proxy_url: (config.proxies ?? [config]).map((p) => p.proxyUrl).join(','), fqdn: config.fqdn });
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

  if (targets.length > 1) logger.info('Gateway: polling for several FQDNs', { fqdns: targets.map((t) => t.fqdn).join(',') });
  // Only the plain-http path is warmed: with forward proxies set, every target goes through undici.
  const warmUpRounds = opts.warmUpRounds ?? DEFAULT_WARM_UP_ROUNDS;
  if (warmUpRounds > 0 && dispatchers.plainTarget) {
    const w = await warmUpScrapePath({ rounds: warmUpRounds, dispatcher: dispatchers.target });
    if (logger.debugEnabled) logger.debug('Warmed up the scrape path', { rounds: w.rounds, ok: w.ok, ms: Math.round(w.ms) });
  }

  // A gateway's lines name the FQDN they are about; a plain client's stay as they were.
  const loggerOf = (fqdn: string): Logger => (targets.length > 1 ? logger.child({ fqdn }) : logger);
  // One scheduler and transport per FQDN and --proxy-url: a scrape is pushed back to the proxy it came from.
  // None without a proxy (a client on NATS only, or one that only serves its modules on --web.listen-address).
  const endpoints = config.proxyUrl === '' ? [] : (config.proxies ?? [config]);
  runners = targets.flatMap((t, i) =>
    endpoints.map((endpoint) =>
      startTarget(t, () => metaHeaders[i]!, endpoint, config, {
        dispatchers,
        metrics,
        logger: loggerOf(t.fqdn),
        opts,
        status: log,
        modules,
      }),
    ),
  );
  metrics.watchChannels(() => sum(runners, (r) => (r.transport.mode === 'channel' ? r.transport.loops : 0)));
  for (const r of runners) r.transport.start();
  // Imported only when enabled: a client without --nats-url never loads the NATS client.
  const nats = config.nats && (await import('./nats/start.js')).startNatsLink(config, targets, (i) => metaHeaders[i]!, { dispatchers, metrics, logger, opts, status: log, modules });

  const idleGcMs = opts.idleGcIntervalMs ?? DEFAULT_IDLE_GC_INTERVAL_MS;
  const collector =
    idleGcMs > 0
      ? new IdleCollector({
          intervalMs: idleGcMs,
          isBusy: () => sum(runners, (r) => r.scheduler.running) + sum(nats?.schedulers ?? [], (s) => s.running) > 0,
        })
      : undefined;
  collector?.start();

  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    collector?.stop();
    await Promise.all([...runners.map((r) => r.transport.stop()), nats?.link.stop()]);
    const schedulers = [...runners.map((r) => r.scheduler), ...(nats?.schedulers ?? [])];
    const drained = (await Promise.all(schedulers.map((s) => s.drain(config.shutdownTimeoutMs)))).every(Boolean);
    for (const r of runners) r.transport.destroy();
    if (!drained) logger.warn('Shutdown timeout reached; aborted the scrapes still running', { timeout: formatDuration(config.shutdownTimeoutMs) });
    await metricsServer?.close();
    await reloading.catch(() => undefined);
    await direct?.close();
    await modules?.close();
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
      return runners[0]?.transport.mode ?? 'single';
    },
    get pollLoops() {
      return sum(runners, (r) => r.transport.loops);
    },
    get scrapesRunning() {
      return sum(runners, (r) => r.scheduler.running);
    },
    get scrapesWaiting() {
      return sum(runners, (r) => r.scheduler.waiting);
    },
    stop: () => (stopping ??= stop()),
    modules,
    reloadModules,
    webAddress: direct?.address,
    reloadTls: () => {
      const next = reloading.then(reload);
      reloading = next.catch(() => undefined);
      return next;
    },
  };
}
