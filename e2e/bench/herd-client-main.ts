import http from 'node:http';
import { HEADER_POLL_CAPACITY, HEADER_RECONNECT, PATH_POLL, parseReconnectSpread, STATUS_POLL_IDLE } from '@pushprox/shared';
import { DEFAULT_FAST_RETRY_PERIOD_MS, ExponentialBackoff } from '@pushprox/client';

/**
 * Herd clients for the restart benchmark (herd.ts): clients `--from` to
 * `--to` (FQDN `herd-<i>.bench`, each from its own 127.x.y.z address), each
 * holding one poll with our client's retry rules and nothing else: a
 * handover reply (204 + X-Pushprox-Reconnect) polls again within its spread,
 * an error waits by the backoff of `@pushprox/client` (fast phase for
 * `--fast-period` ms, default our client's; 0: upstream's waits). Prints
 * `stats <polls> <errors>` every second; exits on SIGTERM.
 */

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const port = Number(args.get('port'));
const from = Number(args.get('from') ?? 0);
const to = Number(args.get('to') ?? 0);
const fastPeriodMs = Number(args.get('fast-period') ?? DEFAULT_FAST_RETRY_PERIOD_MS);
if (!(port > 0) || !(to > from)) {
  process.stderr.write(`expected --port=N --from=A --to=B (A < B); got ${process.argv.slice(2).join(' ')}\n`);
  process.exit(2);
}

const address = (i: number): string => `127.${2 + (i >> 16)}.${(i >> 8) & 255}.${(i & 255) || 1}`;
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
let polls = 0;
let errors = 0;

function client(i: number): void {
  const backoff = new ExponentialBackoff({ initialMs: 1000, maxMs: 5000, fastPeriodMs });
  const body = `herd-${i}.bench`;
  const poll = (): void => {
    polls++;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: PATH_POLL,
        method: 'POST',
        agent,
        localAddress: address(i),
        headers: { 'Content-Length': Buffer.byteLength(body), [HEADER_POLL_CAPACITY]: '1' },
      },
      (res) => {
        res.resume();
        res.on('error', () => undefined);
        res.on('end', () => {
          backoff.reset();
          const spread = res.statusCode === STATUS_POLL_IDLE ? res.headers[HEADER_RECONNECT.toLowerCase()] : undefined;
          if (typeof spread === 'string') setTimeout(poll, Math.random() * parseReconnectSpread(spread));
          else setImmediate(poll);
        });
      },
    );
    req.on('error', () => {
      errors++;
      setTimeout(poll, backoff.next());
    });
    req.end(body);
  };
  poll();
}

for (let i = from; i < to; i++) client(i);
setInterval(() => process.stdout.write(`stats ${polls} ${errors}\n`), 1000);
process.on('SIGTERM', () => process.exit(0));
