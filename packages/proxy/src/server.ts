import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { BufferReclaimer, ERROR_CODES, PushProxError, formatHostPort, type Logger } from '@pushprox/shared';
import { createApi } from './app.js';
import { systemClock, type Clock } from './clock.js';
import type { ProxyConfig } from './config.js';
import { Coordinator } from './coordinator.js';
import { ProxyMetrics } from './metrics.js';
import { createScrapeHandler, type Responders } from './scrape-handler.js';
import { BasicAuth } from './basic-auth.js';
import { ClientAuthenticator, type TokenTable } from './client-auth.js';
import { sendText } from './respond.js';
import { createTlsServer } from './tls.js';
import type { WebConfig } from './web-config.js';

export interface RunningProxy {
  readonly coordinator: Coordinator;
  readonly metrics: ProxyMetrics;
  /** Bound address, e.g. for port 0 in tests. */
  readonly address: AddressInfo;
  /** `http://host:port` usable as --proxy-url and proxy_url. */
  readonly url: string;
  /** Stops accepting, drains waiting polls and pending scrapes, waits (bounded) for scrapes being answered. */
  close(): Promise<void>;
}

/** Absolute-form request-target (RFC 9112 §3.2.2): what Prometheus sends through proxy_url. */
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

const CONNECT_REASON = 'CONNECT not supported: scrape https targets with scheme http and params _scheme=[https]';
const CONNECT_BODY =
  'pushprox-proxy cannot tunnel CONNECT: it must see the scrape to route it to a client.\n' +
  'For an https target keep `scheme: http` in the Prometheus job and add\n' +
  '  params:\n    _scheme: [https]\n' +
  'The client then scrapes the target over https.\n';

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
  >,
  deps: { logger: Logger; clock?: Clock; web?: WebConfig; clientTokens?: TokenTable },
): Promise<RunningProxy> {
  const { logger } = deps;
  const coordinator = new Coordinator({
    clock: deps.clock ?? systemClock,
    registrationTimeoutMs: config.registrationTimeoutMs,
    pollIdleTimeoutMs: config.pollIdleTimeoutMs,
    maxPollsPerFqdn: config.pollMaxPerFqdn,
  });
  const metrics = new ProxyMetrics({
    clients: () => coordinator.registry.size,
    waitingPolls: () => coordinator.stats().waitingPolls,
    pendingScrapes: () => coordinator.stats().pendingScrapes,
    activeScrapes: () => coordinator.stats().activeScrapes,
  });
  const responders: Responders = new Map();
  const auth = new BasicAuth(deps.web?.users ?? new Map());
  const api = createApi({
    auth,
    clientAuth: new ClientAuthenticator(deps.clientTokens), coordinator, metrics, responders, logger, pushMaxBodyBytes: config.pushMaxBodyBytes });
  const scrape = createScrapeHandler(
    {
      coordinator,
      logger,
      scrapeDefaultTimeoutMs: config.scrapeDefaultTimeoutMs,
      scrapeMaxTimeoutMs: config.scrapeMaxTimeoutMs,
      onDone: (status) => metrics.proxiedRequests.inc({ code: String(status) }),
      reclaimer: new BufferReclaimer(),
    },
    responders,
  );

  // Absolute-form targets are dispatched before Express, which would route
  // `GET http://host:9100/metrics` to its own /metrics.
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (!ABSOLUTE_FORM.test(req.url ?? '')) return api(req, res);
    if (!auth.enabled) return scrape(req, res);
    // Prometheus sends Proxy-Authorization when proxy_url carries user:password@.
    // It is a hop-by-hop header, so it is never forwarded to the client.
    auth.check(req.headers['proxy-authorization'] as string | undefined).then(
      (ok) => {
        if (ok) return scrape(req, res);
        metrics.proxiedRequests.inc({ code: '407' });
        sendText(res, 407, 'Proxy authentication required: put user:password@ in proxy_url', {
          'Proxy-Authenticate': 'Basic realm="pushprox"',
        });
      },
      () => sendText(res, 500, 'Internal Server Error'),
    );
  };
  const server: http.Server = deps.web?.tls ? createTlsServer(deps.web.tls, handler) : http.createServer(handler);
  // Polls are long by design; a request only has to arrive within the longest scrape.
  server.requestTimeout = config.scrapeMaxTimeoutMs + 30_000;
  server.headersTimeout = 60_000;
  // Longer than Go's 90 s idle timeout on the peers, so we are never the side that races a reuse.
  server.keepAliveTimeout = 95_000;

  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    logger.warn('Refused CONNECT', { target: req.url, remote: socket.remoteAddress });
    metrics.proxiedRequests.inc({ code: '501' });
    socket.end(
      `HTTP/1.1 501 ${CONNECT_REASON}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(CONNECT_BODY)}\r\nConnection: close\r\n\r\n${CONNECT_BODY}`,
    );
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: config.listen.host, port: config.listen.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = config.listen.host ?? (address.family === 'IPv6' ? '::1' : '127.0.0.1');
  const scheme = deps.web?.tls ? 'https' : 'http';
  const url = `${scheme}://${formatHostPort(host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, address.port)}`;
  logger.info('Listening', { address: formatHostPort(address.address, address.port) });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      server.close();
      coordinator.drain(new PushProxError(ERROR_CODES.SHUTTING_DOWN, 'proxy is shutting down'));
      const deadline = Date.now() + config.shutdownTimeoutMs;
      while (coordinator.stats().activeScrapes > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
      }
      server.closeAllConnections();
    })();
    return closing;
  };
  return { coordinator, metrics, address, url, close };
}
