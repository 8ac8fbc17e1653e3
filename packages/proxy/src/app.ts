import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { PATH_CLIENTS, PATH_METRICS, PATH_POLL, PATH_PUSH, type Logger } from '@pushprox/shared';
import type { Coordinator } from './coordinator.js';
import type { ProxyMetrics } from './metrics.js';
import { createPollHandler } from './poll-handler.js';
import { createPushHandler } from './push-handler.js';
import type { Responders } from './scrape-handler.js';
import { sendText } from './respond.js';

export interface AppOptions {
  readonly coordinator: Coordinator;
  readonly metrics: ProxyMetrics;
  readonly responders: Responders;
  readonly logger: Logger;
  readonly pushMaxBodyBytes: number;
}

/**
 * The origin-form API. As upstream's ServeMux: no method checks on /poll and
 * /push, exact paths, Go's 404 text for anything else.
 */
export function createApp(opts: AppOptions): Express {
  const { coordinator, metrics, logger } = opts;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('strict routing', true);
  app.set('case sensitive routing', true);

  const instrument =
    (path: string, handler: (req: Request, res: Response) => unknown) =>
    (req: Request, res: Response, next: NextFunction): void => {
      const start = process.hrtime.bigint();
      res.on('finish', () => {
        metrics.observeApi(path, res.statusCode, Number(process.hrtime.bigint() - start) / 1e9);
      });
      Promise.resolve(handler(req, res)).catch(next);
    };

  app.all(PATH_POLL, instrument(PATH_POLL, createPollHandler(coordinator, logger)));
  app.all(
    PATH_PUSH,
    instrument(
      PATH_PUSH,
      createPushHandler({
        coordinator,
        responders: opts.responders,
        logger,
        maxBodyBytes: opts.pushMaxBodyBytes,
      }),
    ),
  );
  app.get(
    PATH_CLIENTS,
    instrument(PATH_CLIENTS, (_req, res) => {
      const body = Buffer.from(
        `${JSON.stringify(coordinator.registry.list().map((fqdn) => ({ targets: [fqdn], labels: {} })))}\n`,
      );
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
  app.use((_req: Request, res: Response) => sendText(res, 404, '404 page not found'));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    logger.error('Unhandled error in API handler', { err: err instanceof Error ? err.message : String(err) });
    sendText(res, 500, 'Internal Server Error');
  });
  return app;
}
