import http from 'node:http';
import { gzipSync } from 'node:zlib';

/**
 * Benchmark exporter, in its own process so it does not share an event loop
 * with the load generator: serves a `--size`-byte body of metric lines on
 * /metrics (gzip too when asked and --gzip), on every `--hosts` address.
 * Prints `ready <port>` once listening.
 */
const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const size = Number(args.get('size') ?? 10_240);
const hosts = (args.get('hosts') ?? '127.0.0.1').split(',');
const port = Number(args.get('port') ?? 0);
const gzip = args.get('gzip') === 'true';

const line = Buffer.from('bench_metric{label="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",i="0000"} 1234.5\n');
const body = Buffer.alloc(size);
const whole = Math.floor(size / line.length) * line.length;
for (let i = 0; i < whole; i += line.length) line.copy(body, i);
// The rest is a comment line (or a lone newline), so the body is valid exposition text at any size.
if (size > whole) {
  body.fill(0x20, whole, size);
  body[whole] = size - whole > 1 ? 0x23 : 0x0a;
  body[size - 1] = 0x0a;
}
const gz = gzip ? gzipSync(body) : undefined;

const server = http.createServer((req, res) => {
  if (gz && /gzip/.test(String(req.headers['accept-encoding']))) {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4', 'Content-Encoding': 'gzip', 'Content-Length': gz.length });
    res.end(gz);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4', 'Content-Length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;

let bound = port;
for (const h of hosts) {
  const s = h === hosts[0] ? server : http.createServer(server.listeners('request')[0] as http.RequestListener);
  s.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => s.listen(bound, h, r));
  bound = (s.address() as { port: number }).port;
}
process.stdout.write(`ready ${bound}\n`);
process.on('SIGTERM', () => process.exit(0));
