import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DEFAULT_METRICS_OPTIONS, dropMisnamedDefaultMetrics, PATH_CLIENTS, PATH_METRICS, PATH_POLL, PATH_PUSH } from '@pushprox/shared';

export const API_PATHS = [PATH_PUSH, PATH_POLL, PATH_CLIENTS, PATH_METRICS] as const;

/** Observations held before they are handed to prom-client unasked (see ProxyMetrics.#flush). */
export const PENDING_MAX = 1024;

/**
 * The proxy's metrics, on an explicit registry. Names, labels and help texts
 * are upstream's (including the `pushproxy_` spelling of the proxied counter),
 * so existing dashboards and alerts keep working.
 */
export class ProxyMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'code' | 'path'>;
  readonly httpDuration: Histogram<'path'>;
  readonly proxiedRequests: Counter<'code'>;
  /** Polls and channels refused because --registration.max-clients FQDNs were registered. */
  readonly registrationsRefused: Counter;

  constructor(sources: {
    clients(): number;
    waitingPolls(): number;
    pendingScrapes(): number;
    activeScrapes(): number;
    /** Open channels (FEATURE_CHANNEL). Default none. */
    channels?(): number;
    /** --registration.max-clients, exported as a gauge. */
    maxClients?: number;
  }) {
    const registry = new Registry();
    this.registry = registry;
    this.httpRequests = new Counter({
      name: 'pushprox_http_requests_total',
      help: 'Number of http api requests.',
      labelNames: ['code', 'path'],
      registers: [registry],
      collect: this.#flush,
    });
    this.httpDuration = new Histogram({
      name: 'pushprox_http_duration_seconds',
      help: 'Time taken by path',
      labelNames: ['path'],
      registers: [registry],
      collect: this.#flush,
    });
    this.proxiedRequests = new Counter({
      name: 'pushproxy_proxied_requests_total',
      help: 'Number of http proxy requests.',
      labelNames: ['code'],
      registers: [registry],
      collect: this.#flush,
    });
    new Gauge({
      name: 'pushprox_proxy_clients',
      help: 'Number of known pushprox clients.',
      registers: [registry],
      collect() {
        this.set(sources.clients());
      },
    });
    new Gauge({
      name: 'pushprox_proxy_waiting_polls',
      help: 'Number of client polls waiting for a scrape.',
      registers: [registry],
      collect() {
        this.set(sources.waitingPolls());
      },
    });
    new Gauge({
      name: 'pushprox_proxy_pending_scrapes',
      help: 'Number of scrapes waiting for a client to pick them up.',
      registers: [registry],
      collect() {
        this.set(sources.pendingScrapes());
      },
    });
    new Gauge({
      name: 'pushprox_proxy_active_scrapes',
      help: 'Number of scrapes in the proxy: waiting for a client, or for its push, or being relayed.',
      registers: [registry],
      collect() {
        this.set(sources.activeScrapes());
      },
    });
    new Gauge({
      name: 'pushprox_proxy_channels',
      help: 'Number of open channels (clients run with --proxy.channel): each carries one scrape at a time.',
      registers: [registry],
      collect() {
        this.set(sources.channels?.() ?? 0);
      },
    });
    this.registrationsRefused = new Counter({
      name: 'pushprox_proxy_registrations_refused_total',
      help: 'Polls and channels refused because --registration.max-clients FQDNs were registered.',
      registers: [registry],
    });
    if (sources.maxClients !== undefined) {
      new Gauge({ name: 'pushprox_proxy_max_clients', help: 'The --registration.max-clients limit.', registers: [registry] }).set(
        sources.maxClients,
      );
    }
    // Pre-initialised as upstream does, so rates exist before the first event.
    for (const path of API_PATHS) {
      this.httpRequests.inc({ code: '200', path }, 0);
      this.httpDuration.zero({ path });
    }
    this.httpRequests.inc({ code: '500', path: PATH_PUSH }, 0);
    this.httpRequests.inc({ code: '408', path: PATH_POLL }, 0);
    collectDefaultMetrics({ ...DEFAULT_METRICS_OPTIONS, register: registry });
    dropMisnamedDefaultMetrics(registry);
  }

  // Label children by (path, code) and by path: prom-client hashes a label
  // object on every call, which showed in the per-scrape profile. Bounded:
  // a handful of paths times the three-digit status codes.
  readonly #requestChildren = new Map<string, { inc(): void }>();
  readonly #durationChildren = new Map<string, { observe(v: number): void }>();
  readonly #proxiedChildren = new Map<number, { inc(): void }>();

  /**
   * Observations not yet given to prom-client: [code] for proxied scrapes and
   * [path, code, seconds] for API requests. At real scrape rates prom-client's
   * label hashing and bucket search ran cold on every scrape (about 5% of the
   * proxy's CPU per scrape); here they run in one warm loop when the registry
   * is read (every metric above flushes in its collect) or when PENDING_MAX
   * entries have piled up, so what /metrics shows is the same.
   */
  readonly #pendingProxied: number[] = [];
  readonly #pendingApi: Array<string | number> = [];

  /** Records one scrape answered to Prometheus with `code`. */
  observeProxied(code: number): void {
    this.#pendingProxied.push(code);
    if (this.#pendingProxied.length >= PENDING_MAX) this.#flush();
  }

  /** Records one API request once its response has finished. */
  observeApi(path: string, code: number, seconds: number): void {
    this.#pendingApi.push(path, code, seconds);
    if (this.#pendingApi.length >= 3 * PENDING_MAX) this.#flush();
  }

  /** Hands every pending observation to prom-client; a field, so the metrics' collect can be it. */
  readonly #flush = (): void => {
    const proxied = this.#pendingProxied;
    for (let i = 0; i < proxied.length; i++) this.#recordProxied(proxied[i]!);
    proxied.length = 0;
    const api = this.#pendingApi;
    for (let i = 0; i + 2 < api.length; i += 3) this.#recordApi(api[i] as string, api[i + 1] as number, api[i + 2] as number);
    api.length = 0;
  };

  #recordProxied(code: number): void {
    let child = this.#proxiedChildren.get(code);
    if (!child) this.#proxiedChildren.set(code, (child = this.proxiedRequests.labels({ code: String(code) })));
    child.inc();
  }

  #recordApi(path: string, code: number, seconds: number): void {
    const key = `${code} ${path}`;
    let requests = this.#requestChildren.get(key);
    if (!requests) this.#requestChildren.set(key, (requests = this.httpRequests.labels({ code: String(code), path })));
    requests.inc();
    let duration = this.#durationChildren.get(path);
    if (!duration) this.#durationChildren.set(path, (duration = this.httpDuration.labels({ path })));
    duration.observe(seconds);
  }
}
