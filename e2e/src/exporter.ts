import http from 'node:http';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';

export interface TestExporter {
  readonly port: number;
  readonly host: string;
  readonly url: string;
  /** Requests seen, with their headers. */
  readonly requests: Array<{ url: string; headers: http.IncomingHttpHeaders }>;
  close(): Promise<void>;
}

export interface ExporterOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Port; default 0 (any). The same port on several 127.0.0.x hosts mimics one exporter per host. */
  readonly port?: number;
  /** Delay before answering, in ms. Default 0. */
  readonly delayMs?: number;
  /** Body of the normal /metrics answer. */
  readonly body?: string;
  /** Answer gzip (chunked) when the scraper accepts it. Default false. */
  readonly gzip?: boolean;
}

export const DEMO_BODY =
  '# HELP demo_metric A metric served by the test exporter.\n# TYPE demo_metric gauge\n' +
  Array.from({ length: 200 }, (_, i) => `demo_metric{i="${i}"} ${i}\n`).join('');

/**
 * A small exporter on loopback: /metrics answers DEMO_BODY (Content-Length,
 * or chunked gzip), /big?bytes=N streams N bytes of metric lines with
 * backpressure, generated as it goes (never held in memory).
 */
export async function startExporter(opts: ExporterOptions = {}): Promise<TestExporter> {
  const requests: TestExporter['requests'] = [];
  const body = opts.body ?? DEMO_BODY;
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? '', headers: req.headers });
    const answer = () => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/big') return streamBig(res, Number(u.searchParams.get('bytes')));
      if (opts.gzip && /gzip/.test(String(req.headers['accept-encoding']))) {
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Encoding': 'gzip' });
        res.end(gzipSync(body));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (opts.delayMs) setTimeout(answer, opts.delayMs);
    else answer();
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const host = opts.host ?? '127.0.0.1';
  return {
    port,
    host,
    url: `http://${host}:${port}`,
    requests,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const LINE = Buffer.from('big_metric{label="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"} 12345\n');

function streamBig(res: http.ServerResponse, bytes: number): void {
  const block = Buffer.alloc(64 * 1024);
  for (let i = 0; i < block.length; i += LINE.length) LINE.copy(block, i);
  res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4', 'Content-Length': bytes });
  let left = bytes;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, block.length);
      left -= n;
      if (!res.write(n === block.length ? block : block.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}
