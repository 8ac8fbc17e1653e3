import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { DEFAULT_METRICS_OPTIONS, dropMisnamedDefaultMetrics, formatHostPort, messageOf, type ListenAddress, type Logger } from '@pushprox/shared';
import { REFUSAL_REASONS } from './scraping/scrape-policy.js';

/**
 * Upstream's three client counters (same names and HELP), plus our
 * scrapes_refused_total{reason} and channels gauge, on an explicit registry.
 */
export class ClientMetrics {
  readonly registry: Registry;
  readonly pollErrors: Counter;
  readonly pushErrors: Counter;
  readonly scrapeErrors: Counter;
  /** Scrapes refused by the scrape policy; not scrape errors. Every reason starts at 0. */
  readonly scrapesRefused: Counter<'reason'>;
  /** Read when the channels gauge is collected; set by watchChannels(). */
  #channels: () => number = () => 0;

  /**
   * @param registry Default: a new Registry with prom-client's default
   *   process/Node metrics (the analogue of upstream's go_* and process_*).
   *   A given registry gets the default metrics too unless it already has them.
   */
  constructor(registry?: Registry) {
    this.registry = registry ?? new Registry();
    if (this.registry.getSingleMetric('process_cpu_user_seconds_total') === undefined) {
      collectDefaultMetrics({ ...DEFAULT_METRICS_OPTIONS, register: this.registry });
      dropMisnamedDefaultMetrics(this.registry);
    }
    const counter = (name: string, help: string): Counter =>
      new Counter({ name, help, registers: [this.registry] });
    this.scrapeErrors = counter('pushprox_client_scrape_errors_total', 'Number of scrape errors');
    this.pushErrors = counter('pushprox_client_push_errors_total', 'Number of push errors');
    this.pollErrors = counter('pushprox_client_poll_errors_total', 'Number of poll errors');
    this.scrapesRefused = new Counter({
      name: 'pushprox_client_scrapes_refused_total',
      help: 'Number of scrapes refused by --allow-port, --scrape.allow or --scrape.methods, by reason (port, path, method)',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    for (const reason of REFUSAL_REASONS) this.scrapesRefused.inc({ reason }, 0);
    const channels = (): number => this.#channels();
    new Gauge({
      name: 'pushprox_client_channels',
      help: 'Channels open to the proxy now; 0 while polling (an upstream proxy, --no-proxy.channel, or a refused upgrade)',
      registers: [this.registry],
      collect() {
        this.set(channels());
      },
    });
  }

  /** Where the channels gauge reads the channels open now. */
  watchChannels(open: () => number): void {
    this.#channels = open;
  }
}

export interface MetricsServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/**
 * Serves the registry on every path and method, like upstream's
 * `http.ListenAndServe(addr, promhttp.Handler())`. A listen failure is logged
 * and the client runs on without metrics (upstream logs it at warn too), so a
 * second client on a host with the default port still works.
 */
export async function startMetricsServer(
  addr: ListenAddress,
  registry: Registry,
  logger: Logger,
  /** Answers the requests it takes (the status page, status/routes.ts) and returns true; the rest get the metrics. */
  other?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean,
): Promise<MetricsServer | undefined> {
  const server = http.createServer((req, res) => {
    // A throw out of a request listener is an uncaught exception: it would end the client.
    try {
      if (other?.(req, res)) return;
    } catch (err) {
      logger.error('Serving the status page failed', { path: req.url, err: messageOf(err) });
      if (res.headersSent) res.destroy();
      else {
        res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '1' });
        res.end(`The client's status is not available: ${messageOf(err)}\n`);
      }
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': registry.contentType, 'Content-Length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        logger.error('Collecting metrics failed', { err: messageOf(err) });
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`An error has occurred while serving metrics:\n\n${messageOf(err)}\n`);
      },
    );
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(addr.port, addr.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    logger.warn('Cannot serve metrics', { addr: formatHostPort(addr.host ?? '', addr.port), err: messageOf(err) });
    return undefined;
  }
  server.on('error', (err) => logger.warn('Metrics server error', { err: messageOf(err) }));
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
