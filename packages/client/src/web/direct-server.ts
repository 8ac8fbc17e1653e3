import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline, Readable } from 'node:stream';
import type { Registry } from 'prom-client';
import { formatHostPort, HOP_BY_HOP_HEADERS, messageOf, WireHeaders, type ListenAddress, type Logger } from '@pushprox/shared';
import { BasicAuth, createTlsServer, loadWebConfig, sendAuthRefusal, sendText } from '@pushprox/shared/web';
import { AbortToken } from '../scraping/abort-token.js';
import { FALLBACK_SCRAPE_TIMEOUT_MS } from '../scraping/job.js';
import { parseScrapeTimeout } from '../scraping/scrape.js';
import type { ModuleHost } from '../modules/host.js';
import { matchModuleRoute } from '../modules/route.js';

/**
 * The client's own listener (--web.listen-address): the module endpoints
 * served directly, as exporter_exporter and the openITCOCKPIT agent serve
 * them, with --web.config.file TLS and basic auth (the proxy's code), plus
 * `/metrics` (the client's metrics) and, with --web.enable-lifecycle,
 * `POST /-/reload`. A module body that fails after its head was sent is cut
 * (the connection is destroyed), so a scraper never takes it as complete.
 */

/** Requests answered at once; more get 503 at once. */
export const MAX_DIRECT_REQUESTS = 64;
/** Connections open at once; more are closed by the kernel backlog / Node. */
export const MAX_DIRECT_CONNECTIONS = 256;
/** A request head must be complete within this. */
export const DIRECT_HEADERS_TIMEOUT_MS = 10_000;

export interface DirectServerOptions {
  readonly listen: ListenAddress;
  /** --web.config.file: TLS and basic_auth_users. Default none: plain http, no auth. */
  readonly webConfigFile?: string | undefined;
  /** --web.enable-lifecycle: POST /-/reload re-reads the modules. Default false. */
  readonly lifecycle: boolean;
  readonly modules: ModuleHost | undefined;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly reload: () => Promise<void>;
}

export interface DirectServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

const DROPPED = new Set([...HOP_BY_HOP_HEADERS, 'transfer-encoding', 'connection']);

function wireHeaders(req: IncomingMessage): WireHeaders {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  return new WireHeaders(pairs);
}

export async function startDirectServer(o: DirectServerOptions): Promise<DirectServer> {
  const web = o.webConfigFile ? loadWebConfig(o.webConfigFile) : undefined;
  const auth = new BasicAuth(web?.users ?? new Map(), { logger: o.logger, registry: o.registry });
  let inFlight = 0;

  const serveModule = async (req: IncomingMessage, res: ServerResponse, route: NonNullable<ReturnType<typeof matchModuleRoute>>): Promise<void> => {
    if (!o.modules) return sendText(res, 404, 'no modules are configured (--config.file, --config.dirs)');
    const headers = wireHeaders(req);
    const token = new AbortToken();
    res.once('close', () => {
      if (!res.writableFinished) token.abort(new Error('the scraper closed the connection'));
    });
    const budgetMs = parseScrapeTimeout(headers) ?? FALLBACK_SCRAPE_TIMEOUT_MS;
    let answer;
    try {
      answer = await o.modules.answer(route, { headers, signal: token, budgetMs });
    } catch (err) {
      o.logger.warn('Module scrape failed', { url: req.url, err: messageOf(err) });
      return sendText(res, 500, messageOf(err), undefined, messageOf(err));
    }
    const flat: string[] = [];
    for (let i = 0; i + 1 < answer.headers.length; i += 2) {
      if (!DROPPED.has(answer.headers[i]!.toLowerCase())) flat.push(answer.headers[i]!, answer.headers[i + 1]!);
    }
    // As on the push path: the head waits for the body's first bytes, so a module that fails
    // before any of its output leaves (verification holds the first 256 KiB) is a complete 500.
    const body = answer.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let first: IteratorResult<Buffer>;
    try {
      first = await body.next();
    } catch (err) {
      o.logger.warn('Module scrape failed', { url: req.url, err: messageOf(err) });
      return sendText(res, 500, messageOf(err), undefined, messageOf(err));
    }
    if (res.destroyed || req.method === 'HEAD') {
      answer.body.destroy();
      if (!res.destroyed) {
        res.writeHead(answer.statusCode, answer.statusText, flat);
        res.end();
      }
      return;
    }
    res.writeHead(answer.statusCode, answer.statusText, flat);
    async function* rest(): AsyncGenerator<Buffer> {
      if (!first.done) yield first.value;
      for (let step = await body.next(); !step.done; step = await body.next()) yield step.value;
    }
    pipeline(Readable.from(rest()), res, (err) => {
      answer.body.destroy();
      if (!err) return;
      o.logger.warn('Module scrape failed after its head was sent; the response was cut', { url: req.url, err: messageOf(err) });
      res.destroy();
    });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const outcome = await auth.check(req.headers.authorization, req.socket.remoteAddress);
    if (outcome.kind === 'refused') return sendAuthRefusal(res, outcome);
    if (outcome.kind === 'denied') return sendText(res, 401, 'Unauthorized', { 'WWW-Authenticate': 'Basic' });
    const url = req.url ?? '/';
    const path = url.split('?', 1)[0];
    if (path === '/-/reload') {
      if (!o.lifecycle) return sendText(res, 403, 'Lifecycle API is not enabled.');
      if (req.method !== 'POST' && req.method !== 'PUT') return sendText(res, 405, 'Only POST or PUT requests allowed', { Allow: 'POST, PUT' });
      try {
        await o.reload();
        return sendText(res, 200, 'reloaded');
      } catch (err) {
        return sendText(res, 500, `failed to reload config: ${messageOf(err)}`);
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
    if (path === '/metrics') {
      const text = await o.registry.metrics();
      res.writeHead(200, { 'Content-Type': o.registry.contentType, 'Content-Length': Buffer.byteLength(text) });
      return void res.end(req.method === 'HEAD' ? undefined : text);
    }
    const route = url.startsWith('/') ? matchModuleRoute(url) : undefined;
    if (!route) return sendText(res, 404, '404 page not found');
    return serveModule(req, res, route);
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    // Requests carry no body here; whatever arrives is read and dropped.
    req.resume();
    if (inFlight >= MAX_DIRECT_REQUESTS) return sendText(res, 503, `too many requests in progress (${MAX_DIRECT_REQUESTS})`, { 'Retry-After': '1' });
    inFlight++;
    res.once('close', () => inFlight--);
    handle(req, res).catch((err: unknown) => {
      o.logger.error('Request failed', { url: req.url, err: messageOf(err) });
      if (!res.headersSent) sendText(res, 500, 'internal error');
      else res.destroy();
    });
  };
  const serverOptions: http.ServerOptions = { headersTimeout: DIRECT_HEADERS_TIMEOUT_MS, requestTimeout: DIRECT_HEADERS_TIMEOUT_MS * 3, maxHeaderSize: 16 * 1024 };
  const server: http.Server = web?.tls ? createTlsServer(web.tls, listener, serverOptions) : http.createServer(serverOptions, listener);
  server.maxConnections = MAX_DIRECT_CONNECTIONS;
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('connection', (socket) => socket.on('error', () => undefined));
  server.on('tlsClientError', (_err: unknown, socket: { destroy(): void }) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.listen.port, o.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    auth.close();
    throw new Error(`cannot listen on --web.listen-address ${formatHostPort(o.listen.host ?? '', o.listen.port)}: ${messageOf(err)}`);
  });
  server.on('error', (err) => o.logger.warn('Web listener error', { err: messageOf(err) }));
  const address = server.address() as AddressInfo;
  o.logger.info('Serving modules directly', { address: formatHostPort(address.address, address.port), tls: Boolean(web?.tls), basic_auth: auth.enabled, lifecycle: o.lifecycle });
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        auth.close();
      }),
  };
}
