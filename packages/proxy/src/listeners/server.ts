import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { BufferReclaimer, ERROR_CODES, PushProxError, formatHostPort, type ListenAddress, type Logger } from '@pushprox/shared';
import { createApi, wrongListener, type ListenerRole } from './app.js';
import { systemClock, type Clock } from '../routing/clock.js';
import { PROXY_DEFAULTS, type ListenOn, type ProxyConfig } from '../config.js';
import { WarnAggregator } from '../warn-aggregator.js';
import { Coordinator } from '../routing/coordinator.js';
import { ProxyMetrics } from '../metrics.js';
import { createScrapeHandler, type Responders } from '../exchanges/scrape-handler.js';
import { BasicAuth, sendAuthRefusal, type BasicAuthOptions } from '../auth/basic-auth.js';
import { ChannelServer } from '../channel/channel-server.js';
import { ClientAuthenticator, type TokenTable } from '../auth/client-auth.js';
import { sendText } from './respond.js';
import { createListener, listen, localUrl, type ReadTimeouts } from './listen.js';
import { connectRefusal } from './connect-refusal.js';
import { WebReload, type ReloadedWebConfig } from './web-reload.js';
import { createLifecycleRoutes } from '../lifecycle/endpoints.js';
import type { WebConfig } from '../auth/web-config.js';
import { PROXY_VERSION } from '../cli.js';
import { ProxyStatus } from '../status/proxy-status.js';
import type { ReloadState } from '../status/status-info.js';
import type { ExtraRoute } from './app.js';
import type { Cluster } from '../cluster/cluster.js';
import { fleetTargetGroups, proxyName } from '../cluster/fleet.js';

export interface RunningProxy {
  readonly coordinator: Coordinator;
  readonly metrics: ProxyMetrics;
  /** Bound address of --web.listen-address, e.g. for port 0 in tests. */
  readonly address: AddressInfo;
  /** `http(s)://host:port` usable as proxy_url (and as --proxy-url when there is one listener). */
  readonly url: string;
  /** Bound address of --web.client-listen-address; undefined with one listener. */
  readonly clientAddress: AddressInfo | undefined;
  /** What clients use as --proxy-url: the client listener's URL, else `url`. */
  readonly clientUrl: string;
  /** Stops accepting, drains waiting polls and pending scrapes, waits (bounded) for scrapes being answered. */
  close(): Promise<void>;
  /** Throws unless re-read web config files can replace the running ones without a restart (see checkTlsReload). */
  checkWebConfig(next: ReloadedWebConfig): void;
  /** Puts re-read web config files in use: basic_auth_users and the listeners' TLS material. Check first. */
  applyWebConfig(next: ReloadedWebConfig): void;
  /** Puts a re-read --client.token-file in use. */
  setClientTokens(tokens: TokenTable): void;
}

export type { ReloadedWebConfig };

/** Absolute-form request-target (RFC 9112 §3.2.2): what Prometheus sends through proxy_url. */
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

export interface StartProxyDeps {
  readonly logger: Logger;
  readonly clock?: Clock;
  /** --web.config.file: TLS and basic auth of the main listener. */
  readonly web?: WebConfig;
  /** --web.client-config.file: TLS of the client listener; default: the main listener's TLS. */
  readonly clientWeb?: WebConfig;
  readonly clientTokens?: TokenTable;
  /** Certificate enrollment handler (enroll/index.ts); undefined: disabled. */
  readonly enroll?: (req: IncomingMessage, res: ServerResponse) => void;
  /** Channels: ping one silent this long (default CHANNEL_PING_MS) and close one silent `channelSilenceMs` (default CHANNEL_SILENCE_MS). */
  readonly channelPingMs?: number;
  readonly channelSilenceMs?: number;
  /** How long a surplus poll may wait (CoordinatorOptions.surplusLingerMs); default DEFAULT_SURPLUS_LINGER_MS. */
  readonly surplusLingerMs?: number;
  /** Budget of distinct client metadata (CoordinatorOptions.maxClientMetaBytes); default DEFAULT_CLIENT_META_BYTES (64 MiB). */
  readonly clientMetaBytes?: number;
  /** Basic auth's caches, worker queue and per-source limit (defaults in basic-auth.ts); overrides `authMaxFailures`. */
  readonly basicAuth?: BasicAuthOptions;
  /**
   * --web.enable-lifecycle and what /-/reload runs (lifecycle/reloader.ts);
   * default: disabled, and /-/reload answers 403.
   */
  readonly lifecycle?: { readonly enabled: boolean; reload(): Promise<void>; state(): ReloadState };
  /** Whether enrollment is on, for the status page. Default: whether `enroll` is given. */
  readonly enrollment?: boolean;
  /** Membership in a proxy cluster (--cluster.nats-url); started and closed with the proxy. */
  readonly cluster?: Cluster;
}

export async function startProxy(
  config: Pick<
    ProxyConfig,
    | 'listen'
    | 'scrapeMaxTimeoutMs'
    | 'scrapeDefaultTimeoutMs'
    | 'registrationTimeoutMs'
    | 'pollIdleTimeoutMs'
    | 'pollMaxPerFqdn'
    | 'pushMaxBodyBytes'
    | 'shutdownTimeoutMs'
  > &
    Partial<
      Pick<ProxyConfig, 'clientListen' | 'readHeaderTimeoutMs' | 'readIdleTimeoutMs' | 'registrationMaxClients' | 'authMaxFailures' | 'registrationGraceMs'>
    >,
  deps: StartProxyDeps,
): Promise<RunningProxy> {
  const { logger } = deps;
  const clock = deps.clock ?? systemClock;
  const maxClients = config.registrationMaxClients ?? PROXY_DEFAULTS.registrationMaxClients;
  const startedAt = clock.now();
  // Its closures ask the coordinator, auth and deps only once requests arrive.
  const status = new ProxyStatus({
    clock,
    coordinator: () => coordinator,
    version: PROXY_VERSION,
    basicAuth: () => auth.enabled,
    clientTokens: () => deps.clientTokens !== undefined,
    enrollment: deps.enrollment ?? deps.enroll !== undefined,
    lifecycle: deps.lifecycle?.enabled ?? false,
    config: config as unknown as Readonly<Record<string, unknown>>,
    maxClients,
    maxPollsPerFqdn: config.pollMaxPerFqdn,
    pushMaxBodyBytes: config.pushMaxBodyBytes,
    reload: () => deps.lifecycle?.state() ?? { lastSuccess: true, lastSuccessAt: startedAt, lastError: '' },
    ...(deps.cluster && { fleet: { selfName: () => deps.cluster!.name, remote: () => deps.cluster!.remoteClients() } }),
  });
  // Refusals are caused at will by whoever reaches the client port: one line, then a count a minute.
  const registrationWarnings = new WarnAggregator({ logger, msg: 'Refused a new client: --registration.max-clients reached' });
  const metaWarnings = new WarnAggregator({ logger, msg: 'Client metadata not stored: its memory budget is spent; the client is listed without labels or modules' });
  const coordinator = new Coordinator({
    clock,
    registrationTimeoutMs: config.registrationTimeoutMs,
    // Counted from here: the listeners open right after.
    registrationGraceMs: config.registrationGraceMs ?? 0,
    pollIdleTimeoutMs: config.pollIdleTimeoutMs,
    maxPollsPerFqdn: config.pollMaxPerFqdn,
    maxClients,
    onRegistrationRefused: (fqdn) => {
      metrics.registrationsRefused.inc();
      registrationWarnings.note('all', { fqdn, max_clients: config.registrationMaxClients ?? PROXY_DEFAULTS.registrationMaxClients });
    },
    ...(deps.surplusLingerMs !== undefined && { surplusLingerMs: deps.surplusLingerMs }),
    ...(deps.clientMetaBytes !== undefined && { maxClientMetaBytes: deps.clientMetaBytes }),
    onClientMetaRefused: (fqdn) => metaWarnings.note('all', { fqdn }),
    onPoll: (fqdn, opts) => status.history.polled(fqdn, opts.persistent === true ? 'channel' : opts.capacity !== undefined ? 'polling' : 'upstream'),
    ...(deps.cluster && { remoteHolders: deps.cluster }),
  });
  const metrics = new ProxyMetrics({
    clients: () => coordinator.registry.size,
    waitingPolls: () => coordinator.stats().waitingPolls,
    pendingScrapes: () => coordinator.stats().pendingScrapes,
    activeScrapes: () => coordinator.stats().activeScrapes,
    channels: () => channels.size,
    maxClients,
  });
  const split = config.clientListen !== undefined;
  const mainTls = deps.web?.tls;
  const clientTls = split ? (deps.clientWeb?.tls ?? mainTls) : mainTls;
  const responders: Responders = new Map();
  const auth = new BasicAuth(deps.web?.users ?? new Map(), {
    logger,
    registry: metrics.registry,
    ...(config.authMaxFailures !== undefined && { maxFailures: config.authMaxFailures }),
    ...deps.basicAuth,
  });
  const clientAuth = new ClientAuthenticator(deps.clientTokens, {
    // A listener that verifies client certificates was set up for mutual TLS:
    // a client role request must then prove who it is (certificate or token).
    requireIdentity: clientTls?.ca !== undefined && clientTls.clientAuth !== 'NoClientCert',
  });
  // Set once close() starts; /-/ready answers 503 from then on.
  let closing: Promise<void> | undefined;
  const routes = new Map<string, ExtraRoute>(
    createLifecycleRoutes({
      enabled: deps.lifecycle?.enabled ?? false,
      // Ready once listening, and once joined when clustered (Prometheus' /-/ready semantics).
      ready: () => closing === undefined && (deps.cluster?.joined ?? true),
      reload: () => deps.lifecycle?.reload() ?? Promise.resolve(),
    }),
  );
  for (const [path, route] of status.routes) routes.set(path, route);
  const apiOptions = {
    auth, clientAuth, coordinator, metrics, responders, logger, pushMaxBodyBytes: config.pushMaxBodyBytes, routes,
    ...(deps.enroll && { enroll: deps.enroll }),
    ...(deps.cluster && {
      listClients: () =>
        fleetTargetGroups(
          { names: coordinator.registry.list(), metaOf: (fqdn) => coordinator.clientMeta(fqdn), anyMeta: coordinator.hasClientMeta },
          deps.cluster!.remoteClients(),
        ),
      remotePush: deps.cluster.pushes,
    }),
  };
  const scrape = createScrapeHandler(
    {
      coordinator,
      logger,
      scrapeDefaultTimeoutMs: config.scrapeDefaultTimeoutMs,
      scrapeMaxTimeoutMs: config.scrapeMaxTimeoutMs,
      onDone: (status) => metrics.observeProxied(status),
      onResult: (fqdn, result) => status.history.record(fqdn, result),
      reclaimer: new BufferReclaimer(),
      ...(deps.cluster && { forwarder: deps.cluster }),
    },
    responders,
  );

  const handlerFor = (role: ListenerRole) => {
    const api = createApi(apiOptions, role);
    // Absolute-form targets are dispatched before Express, which would route
    // `GET http://host:9100/metrics` to its own /metrics.
    return (req: IncomingMessage, res: ServerResponse): void => {
      if (!ABSOLUTE_FORM.test(req.url ?? '')) {
        // Node reads a request line without a version as HTTP/0.9 and still parses
        // the lines after it as headers; Go's server refuses it. (The scrape
        // handler refuses such scrapes itself, counting them.)
        if (req.httpVersionMajor !== 1) {
          return sendText(res, 400, `expected an HTTP/1.x request, got HTTP/${req.httpVersion}`, { Connection: 'close' });
        }
        return api(req, res);
      }
      if (role === 'client') return wrongListener(res, role);
      if (!auth.enabled) return scrape(req, res);
      // Prometheus sends Proxy-Authorization when proxy_url carries user:password@.
      // It is a hop-by-hop header, so it is never forwarded to the client.
      auth.check(req.headers['proxy-authorization'] as string | undefined, req.socket.remoteAddress).then(
        (outcome) => {
          if (outcome.kind === 'ok') return scrape(req, res);
          if (outcome.kind === 'refused') {
            metrics.observeProxied(outcome.error.status);
            return sendAuthRefusal(res, outcome);
          }
          metrics.observeProxied(407);
          sendText(res, 407, 'Proxy authentication required: put user:password@ in proxy_url', {
            'Proxy-Authenticate': 'Basic realm="pushprox"',
          });
        },
        () => sendText(res, 500, 'Internal Server Error'),
      );
    };
  };
  const timeouts: ReadTimeouts = {
    headersMs: config.readHeaderTimeoutMs ?? 10_000,
    idleMs: config.readIdleTimeoutMs ?? 30_000,
    // Polls are long by design, but a request only has to arrive within the longest scrape.
    requestMs: config.scrapeMaxTimeoutMs + 30_000,
  };
  const refuseConnect = connectRefusal(logger, (status) => metrics.observeProxied(status));

  const channels = new ChannelServer({
    coordinator,
    responders,
    logger,
    authn: clientAuth,
    maxBodyBytes: config.pushMaxBodyBytes,
    ...(deps.channelPingMs !== undefined && { pingMs: deps.channelPingMs }),
    ...(deps.channelSilenceMs !== undefined && { silenceMs: deps.channelSilenceMs }),
    longestScrapeMs: config.scrapeMaxTimeoutMs,
    observe: (path, status, seconds) => metrics.observeApi(path, status, seconds),
  });
  const servers: http.Server[] = [];
  const webReload = new WebReload(split, { web: deps.web, clientWeb: deps.clientWeb }, auth);
  const open = async (role: ListenerRole, addr: ListenOn, tls: typeof mainTls) => {
    const server = createListener(tls, handlerFor(role), timeouts);
    server.on('connect', refuseConnect);
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => channels.upgrade(req, socket, head, role));
    servers.push(server);
    if (tls) webReload.secured(server, role === 'client');
    const bound = await listen(server, addr);
    logger.info('Listening', {
      address: formatHostPort(bound.address, bound.port),
      role,
      tls: tls !== undefined,
      ...('fd' in addr && { systemd_socket: addr.name }),
    });
    status.listeners.push({
      address: formatHostPort(bound.address, bound.port),
      role,
      tls: tls !== undefined,
      ...(tls && { clientAuth: tls.clientAuth }),
    });
    return { bound, url: localUrl(tls !== undefined, addr, bound) };
  };
  let main: Awaited<ReturnType<typeof open>>;
  let client: Awaited<ReturnType<typeof open>> | undefined;
  try {
    main = await open(split ? 'scraper' : 'all', config.listen, mainTls);
    if (split) client = await open('client', config.clientListen!, clientTls);
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }

  deps.cluster?.start({
    coordinator,
    responders,
    registry: metrics.registry,
    scrapeMaxTimeoutMs: config.scrapeMaxTimeoutMs,
    pushMaxBodyBytes: config.pushMaxBodyBytes,
    describe: (fqdn) => ({ meta: coordinator.clientMetaRaw(fqdn), transport: status.history.get(fqdn)?.transport }),
    name: proxyName(status.listeners[0]?.address ?? ''),
  });

  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const s of servers) s.close();
      // Withdrawn first, so peers stop forwarding here while this proxy drains.
      await deps.cluster?.close();
      // Our clients reconnect at once (to the next process) instead of backing off.
      channels.handover();
      coordinator.drain(new PushProxError(ERROR_CODES.SHUTTING_DOWN, 'proxy is shutting down'));
      const deadline = Date.now() + config.shutdownTimeoutMs;
      while (coordinator.stats().activeScrapes > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
      }
      for (const s of servers) s.closeAllConnections();
      // Upgraded sockets are no longer the servers' connections.
      channels.closeAll();
      auth.close();
    })();
    return closing;
  };
  return {
    checkWebConfig: (next) => webReload.check(next),
    applyWebConfig: (next) => webReload.apply(next),
    setClientTokens: (tokens) => clientAuth.setTokens(tokens),
    coordinator,
    metrics,
    address: main.bound,
    url: main.url,
    clientAddress: client?.bound,
    clientUrl: client?.url ?? main.url,
    close,
  };
}
