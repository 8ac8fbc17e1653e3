import http from 'node:http';
import https from 'node:https';
import { buffer } from 'node:stream/consumers';

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * A scrape through the proxy as Prometheus sends it: absolute-form target,
 * X-Prometheus-Scrape-Timeout-Seconds. Rejects after `timeoutMs`.
 */
export function scrapeVia(
  proxyPort: number,
  target: string,
  opts: { timeoutSecs?: number; timeoutMs?: number; headers?: Record<string, string>; proxyHost?: string; ca?: Buffer } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { 'Accept-Encoding': 'gzip', ...opts.headers };
  if (opts.timeoutSecs !== undefined) headers['X-Prometheus-Scrape-Timeout-Seconds'] = String(opts.timeoutSecs);
  return get({ host: opts.proxyHost ?? '127.0.0.1', port: proxyPort, path: target, headers, agent: false }, opts.timeoutMs ?? 30_000, opts.ca);
}

/**
 * A GET; `gzip` asks for a compressed body, as Prometheus does when scraping.
 * With `ca`, over https (the proxy's URL given as `https://...`), verifying the server against it.
 */
export function getUrl(
  url: string,
  opts: { timeoutMs?: number; gzip?: boolean; headers?: Record<string, string>; ca?: Buffer } = {},
): Promise<Reply> {
  const headers = { ...(opts.gzip ? { 'Accept-Encoding': 'gzip' } : {}), ...opts.headers };
  return get({ ...urlOpts(url), agent: false, headers }, opts.timeoutMs ?? 10_000, opts.ca);
}

function urlOpts(url: string): http.RequestOptions {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), path: `${u.pathname}${u.search}` };
}

/** Over https (verifying the server against `ca`) when `ca` is given. */
function get(opts: http.RequestOptions, timeoutMs: number, ca?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onReply = (res: http.IncomingMessage): void => {
      buffer(res).then((body) => resolve({ status: res.statusCode!, headers: res.headers, body }), reject);
    };
    const req = ca ? https.request({ method: 'GET', ...opts, ca }, onReply) : http.request({ method: 'GET', ...opts }, onReply);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no reply within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Streams a response and counts its bytes without keeping them; for large bodies. */
export function drainVia(proxyPort: number, target: string, timeoutSecs: number, onChunk?: () => void): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: proxyPort,
        path: target,
        agent: false,
        headers: { 'X-Prometheus-Scrape-Timeout-Seconds': String(timeoutSecs) },
      },
      (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          onChunk?.();
        });
        res.on('end', () => resolve({ status: res.statusCode!, bytes }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutSecs * 1000 + 5000, () => req.destroy(new Error('drain timed out')));
    req.on('error', reject);
    req.end();
  });
}
