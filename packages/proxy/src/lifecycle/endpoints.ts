import type { IncomingMessage, ServerResponse } from 'node:http';
import { messageOf } from '@pushprox/shared';
import type { ExtraRoute } from '../listeners/app.js';

export const PATH_HEALTHY = '/-/healthy';
export const PATH_READY = '/-/ready';
export const PATH_RELOAD = '/-/reload';

export interface LifecycleOptions {
  /** --web.enable-lifecycle: /-/reload reloads; otherwise it answers 403 as Prometheus does. */
  readonly enabled: boolean;
  /** Ready once listening (the routes exist only then), until shutdown starts. */
  readonly ready: () => boolean;
  /** Rejects with why the configuration was not reloaded. */
  readonly reload: () => Promise<void>;
}

/** Plain text as Prometheus' web handlers write it: text/plain, no trailing text beyond the message. */
function text(req: IncomingMessage, res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  const bytes = Buffer.from(body);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Content-Length': bytes.length, ...extra });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

/**
 * Prometheus' health and lifecycle endpoints, with its status codes and
 * texts: /-/healthy and /-/ready answer GET and HEAD (405 otherwise);
 * /-/reload answers POST and PUT, 403 "Lifecycle API is not enabled."
 * without --web.enable-lifecycle, 500 "failed to reload config: …" when a
 * file is bad (the old settings stay), and 405 "Only POST or PUT requests
 * allowed" to other methods. /-/healthy and /-/ready need no credentials
 * (probes of load balancers and orchestrators carry none, and they reveal
 * nothing); /-/reload is behind basic_auth_users like /clients.
 */
export function createLifecycleRoutes(opts: LifecycleOptions): ReadonlyMap<string, ExtraRoute> {
  const probe = (ok: () => boolean, okText: string, notOkText: string): ExtraRoute => ({
    guarded: false,
    handler: (req, res) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return text(req, res, 405, 'Method Not Allowed\n', { Allow: 'GET, HEAD' });
      if (ok()) text(req, res, 200, okText);
      else text(req, res, 503, notOkText);
    },
  });
  return new Map<string, ExtraRoute>([
    [PATH_HEALTHY, probe(() => true, 'PushProx Proxy is Healthy.\n', '')],
    [PATH_READY, probe(opts.ready, 'PushProx Proxy is Ready.\n', 'Service Unavailable')],
    [
      PATH_RELOAD,
      {
        guarded: true,
        handler: (req, res) => {
          if (req.method !== 'POST' && req.method !== 'PUT') return text(req, res, 405, 'Only POST or PUT requests allowed', { Allow: 'POST, PUT' });
          if (!opts.enabled) return text(req, res, 403, 'Lifecycle API is not enabled.');
          opts.reload().then(
            () => text(req, res, 200, ''),
            (err: unknown) => text(req, res, 500, `failed to reload config: ${messageOf(err)}\n`),
          );
        },
      },
    ],
  ]);
}
