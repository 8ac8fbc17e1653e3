import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import {
  ERROR_CODES,
  HTTP_STATUS,
  PATH_CLIENTS,
  PATH_ENROLL,
  PATH_ENROLL_CA,
  PATH_METRICS,
  PATH_POLL,
  PATH_PUSH,
  type Logger,
} from '@pushprox/shared';
import type { Coordinator } from '../routing/coordinator.js';
import type { ProxyMetrics } from '../metrics.js';
import { createPollHandler } from '../exchanges/poll-handler.js';
import { createPushHandler, type Relabel } from '../exchanges/push-handler.js';
import type { RemotePush } from '../exchanges/push-relay.js';
import type { Responders } from '../exchanges/scrape-handler.js';
import { sendText } from './respond.js';
import { targetGroups, type TargetGroup } from '../discovery/target-groups.js';
import { sendAuthRefusal, type BasicAuth } from '../auth/basic-auth.js';
import type { ClientAuthenticator } from '../auth/client-auth.js';

/**
 * What a listener serves. With one listener (the default, as upstream) it is
 * 'all'; with --web.client-listen-address the Prometheus-facing listener is
 * 'scraper' (scrapes, /clients, /metrics) and the client one 'client'
 * (/poll, /push, enrollment), so the Internet-facing port exposes nothing else.
 */
export type ListenerRole = 'all' | 'scraper' | 'client';

/** Answer for a path that belongs to the other listener's role. */
export function wrongListener(res: ServerResponse, role: ListenerRole): void {
  const other = role === 'client' ? '--web.listen-address' : '--web.client-listen-address';
  sendText(res, HTTP_STATUS[ERROR_CODES.WRONG_LISTENER], `404 page not found (served on ${other})`);
}

export interface AppOptions {
  /** Scraper-role credentials; guard /clients and /metrics when enabled. */
  readonly auth: BasicAuth;
  /** Client-role identity for /poll and /push. */
  readonly clientAuth: ClientAuthenticator;
  readonly coordinator: Coordinator;
  readonly metrics: ProxyMetrics;
  readonly responders: Responders;
  readonly logger: Logger;
  readonly pushMaxBodyBytes: number;
  /**
   * Certificate enrollment (PATH_ENROLL, PATH_ENROLL_CA), a client-role
   * service; undefined when disabled, and those paths answer 404 like any other.
   */
  readonly enroll?: (req: IncomingMessage, res: ServerResponse) => void;
  /** More routes by exact path; default none. */
  readonly routes?: ReadonlyMap<string, ExtraRoute>;
  /** Pushes for Ids another proxy of the cluster handed out; default none (refused as unknown). */
  readonly remotePush?: RemotePush;
  /** The target groups /clients lists; default the local registry's (the cluster's fleet view replaces it). */
  readonly listClients?: () => TargetGroup[];
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** An origin-form route served by exact path on the scraper-role listener (status page, API, lifecycle). */
export interface ExtraRoute {
  readonly handler: Handler;
  /** Behind basic_auth_users, as /clients. */
  readonly guarded: boolean;
}

/** Counts and times an API request once its response has finished, under upstream's path label. */
function instrumented(
  metrics: ProxyMetrics,
  path: string,
  handler: (req: IncomingMessage, res: ServerResponse, relabel: Relabel) => unknown,
  onError: (err: unknown, res: ServerResponse) => void,
): Handler {
  return (req, res) => {
    let start = process.hrtime.bigint();
    let label = path;
    const elapsed = (): number => Number(process.hrtime.bigint() - start) / 1e9;
    const relabel: Relabel = (next) => {
      metrics.observeApi(label, 200, elapsed());
      label = next;
      start = process.hrtime.bigint();
    };
    res.on('finish', () => metrics.observeApi(label, res.statusCode, elapsed()));
    Promise.resolve(handler(req, res, relabel)).catch((err: unknown) => onError(err, res));
  };
}

/**
 * The origin-form API. As upstream's ServeMux: no method checks on /poll and
 * /push, exact paths, Go's 404 text for anything else. /poll and /push, the
 * per-scrape paths, are plain node:http handlers dispatched before Express
 * (its routing and request wrappers cost CPU per scrape and memory per
 * waiting poll); the rest goes through Express.
 */
export function createApi(opts: AppOptions, role: ListenerRole = 'all'): Handler {
  const { coordinator, metrics, logger } = opts;
  const fail = (err: unknown, res: ServerResponse) => {
    logger.error('Unhandled error in API handler', { err: err instanceof Error ? err.message : String(err) });
    sendText(res, 500, 'Internal Server Error');
  };
  // A waiting poll counts and times its response itself, in the one listener it has anyway.
  const poll = createPollHandler({
    coordinator,
    logger,
    authn: opts.clientAuth,
    observe: (status, seconds) => metrics.observeApi(PATH_POLL, status, seconds),
    fail,
  });
  const push = instrumented(
    metrics,
    PATH_PUSH,
    createPushHandler({
      coordinator,
      responders: opts.responders,
      logger,
      authn: opts.clientAuth,
      maxBodyBytes: opts.pushMaxBodyBytes,
      ...(opts.remotePush && { remotePush: opts.remotePush }),
    }),
    fail,
  );
  const enroll = opts.enroll && instrumented(metrics, PATH_ENROLL, opts.enroll, fail);
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('strict routing', true);
  app.set('case sensitive routing', true);

  const instrument =
    (path: string, handler: (req: IncomingMessage, res: ServerResponse) => unknown) =>
    (req: Request, res: Response, next: NextFunction): void =>
      instrumented(metrics, path, handler, (err) => next(err))(req, res);

  // /clients and /metrics belong to the scraper role (Prometheus, operators'
  // cron); /poll and /push to the client role, which basic_auth_users does not cover.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const guarded = req.path === PATH_CLIENTS || req.path === PATH_METRICS || opts.routes?.get(req.path)?.guarded === true;
    if (!opts.auth.enabled || !guarded) return next();
    opts.auth.check(req.headers.authorization, req.socket.remoteAddress).then((outcome) => {
      if (outcome.kind === 'ok') next();
      else if (outcome.kind === 'refused') sendAuthRefusal(res, outcome);
      else sendText(res, 401, 'Unauthorized', { 'WWW-Authenticate': 'Basic realm="pushprox"' });
    }, next);
  });
  app.get(
    PATH_CLIENTS,
    instrument(PATH_CLIENTS, (_req, res) => {
      // Also Prometheus' http_sd_configs endpoint: 200, application/json, UTF-8, `[]` when empty.
      const groups = opts.listClients?.() ?? targetGroups(coordinator.registry.list(), (fqdn) => coordinator.clientMeta(fqdn), coordinator.hasClientMeta);
      const body = Buffer.from(`${JSON.stringify(groups)}\n`);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
      res.end(body);
    }),
  );
  app.get(
    PATH_METRICS,
    instrument(PATH_METRICS, async (_req, res) => {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
      res.end(text);
    }),
  );
  app.use((req: Request, res: Response, next: NextFunction) => {
    const route = opts.routes?.get(req.path);
    if (route) route.handler(req, res);
    else next();
  });
  app.use((_req: Request, res: Response) => sendText(res, 404, '404 page not found'));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    logger.error('Unhandled error in API handler', { err: err instanceof Error ? err.message : String(err) });
    sendText(res, 500, 'Internal Server Error');
  });
  return (req, res) => {
    // Go's ServeMux matches the path alone; a query string does not change the route.
    const q = req.url!.indexOf('?');
    const path = q < 0 ? req.url! : req.url!.slice(0, q);
    if (path === PATH_POLL || path === PATH_PUSH) {
      if (role === 'scraper') wrongListener(res, role);
      else if (path === PATH_POLL) poll(req, res);
      else push(req, res);
    } else if (enroll && (path === PATH_ENROLL || path === PATH_ENROLL_CA)) {
      if (role === 'scraper') wrongListener(res, role);
      else enroll(req, res);
    } else if (role === 'client') wrongListener(res, role);
    else app(req, res);
  };
}
