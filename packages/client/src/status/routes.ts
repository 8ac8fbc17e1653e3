import type { IncomingMessage, ServerResponse } from 'node:http';
import { CLIENT_PAGE_HTML, CLIENT_PAGE_SCRIPT, CLIENT_PAGE_STYLE } from './page.js';

/** As the proxy's status page: scripts and styles from this origin only, no inline script, no eval, no framing. */
export const CLIENT_STATUS_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
});

/**
 * The status page on --metrics-addr. Upstream's client serves its metrics on
 * every path, and so does ours, except: `/` for a browser (a request whose
 * Accept names text/html, which Prometheus' scrapes never do), the page's two
 * assets, and `/api/v1/status`. Returns false for every other request (the metrics).
 */
export function createClientStatusHandler(status: () => unknown): (req: IncomingMessage, res: ServerResponse) => boolean {
  const assets = new Map<string, readonly [string, Buffer]>([
    ['/assets/client-status.js', ['text/javascript; charset=utf-8', Buffer.from(CLIENT_PAGE_SCRIPT)]],
    ['/assets/client-status.css', ['text/css; charset=utf-8', Buffer.from(CLIENT_PAGE_STYLE)]],
  ]);
  const html = Buffer.from(CLIENT_PAGE_HTML);
  const send = (req: IncomingMessage, res: ServerResponse, type: string, body: Buffer): true => {
    res.writeHead(200, { ...CLIENT_STATUS_HEADERS, 'Content-Type': type, 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === '/' && /\btext\/html\b/.test(String(req.headers.accept ?? ''))) return send(req, res, 'text/html; charset=utf-8', html);
    const asset = assets.get(path);
    if (asset) return send(req, res, asset[0], asset[1]);
    if (path === '/api/v1/status') return send(req, res, 'application/json', Buffer.from(`${JSON.stringify({ status: 'success', data: status() })}\n`));
    return false;
  };
}
