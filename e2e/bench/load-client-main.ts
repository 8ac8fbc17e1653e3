import http from 'node:http';
import { pipeline } from 'node:stream/promises';
import {
  HEADER_ID,
  HEADER_SCRAPE_TIMEOUT,
  HEADER_SCRAPE_TIMEOUT_LEGACY,
  PATH_POLL,
  PATH_PUSH,
  WireHeaders,
  createChunkedEncoder,
  parseRequest,
  serializeResponseHead,
  type RequestHead,
} from '@pushprox/shared';
import { channelLoad } from './load-client-channel.js';

/**
 * Built-in load client for the benchmark (issue #5): one process plays many
 * clients, each FQDN a loopback address that its polls come from. It speaks
 * the upstream client protocol only (no extension headers): one poll loop per
 * FQDN that polls again as soon as a scrape request arrives, scrapes the
 * target for real with every header forwarded, and pushes the exporter's
 * response back as HTTP/1.1 bytes with `Id` added, streaming the body.
 * With `--channel`, it speaks our client's default instead: channels
 * (load-client-channel.ts) in place of /poll and /push, the same bytes inside.
 *
 * Flags: `--proxy-url=URL` (required), `--fqdns=a,b,…` (required), `--channel`.
 * Prints `ready` once every poll loop has started; exits on SIGTERM.
 */

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const CHANNEL = args.has('channel');
const proxy = new URL(args.get('proxy-url') ?? '');
const fqdns = (args.get('fqdns') ?? '').split(',').filter(Boolean);
if (!proxy.port || fqdns.length === 0) {
  process.stderr.write(`expected --proxy-url=http://host:port and --fqdns=a,b,…; got ${process.argv.slice(2).join(' ')}\n`);
  process.exit(2);
}

/** Largest poll reply (a serialised scrape request) accepted. */
const MAX_POLL_REPLY_BYTES = 64 * 1024;
/** Upstream's --proxy.retry.initial-wait. */
const RETRY_WAIT_MS = 1000;
/** Upstream's default when the scrape request carries no usable timeout. */
const DEFAULT_SCRAPE_TIMEOUT_S = 15;

// Polls come from each FQDN's own address; the agent pools per local address.
const proxyAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const scrapeAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
let stopped = false;
let errors = 0;

function pollOnce(fqdn: string): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: proxy.hostname,
        port: Number(proxy.port),
        path: PATH_POLL,
        method: 'POST',
        agent: proxyAgent,
        localAddress: fqdn,
        headers: { 'Content-Length': Buffer.byteLength(fqdn) },
      },
      (res) => {
        const pieces: Buffer[] = [];
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          if (n > MAX_POLL_REPLY_BYTES) res.destroy(new Error(`poll reply exceeds ${MAX_POLL_REPLY_BYTES} bytes`));
          else pieces.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          if (res.statusCode === 200) resolve(Buffer.concat(pieces));
          // 408: another poll for this FQDN displaced ours; poll again at once.
          else if (res.statusCode === 408) resolve(undefined);
          else reject(new Error(`poll for ${fqdn}: expected 200 or 408, got ${res.statusCode}`));
        });
      },
    );
    req.on('error', reject);
    req.end(fqdn);
  });
}

async function pollLoop(fqdn: string): Promise<void> {
  while (!stopped) {
    let reply: Buffer | undefined;
    try {
      reply = await pollOnce(fqdn);
    } catch (err) {
      errors++;
      process.stderr.write(`${String(err)}\n`);
      await new Promise((r) => setTimeout(r, RETRY_WAIT_MS));
      continue;
    }
    // As upstream: the scrape runs on its own while the next poll waits.
    if (reply) void scrapeAndPush(fqdn, reply);
  }
}

function timeoutOf(head: RequestHead): number {
  const s = Number(head.headers.get(HEADER_SCRAPE_TIMEOUT));
  return Number.isFinite(s) && s > 0 ? s : DEFAULT_SCRAPE_TIMEOUT_S;
}

/** Sends one pushed response: its head, then the body stream (`length` bytes in all, or chunked if unknown) or `bytes`. */
type Deliver = (head: Buffer, body: http.IncomingMessage | undefined, length: number | undefined, bytes?: Buffer) => Promise<void>;

async function scrapeAndPush(fqdn: string, reply: Buffer, deliver: Deliver = push): Promise<void> {
  let id = '';
  try {
    const { head } = parseRequest(reply, { maxHeadBytes: MAX_POLL_REPLY_BYTES });
    id = head.headers.get(HEADER_ID) ?? '';
    const url = new URL(head.target);
    if (url.hostname !== fqdn) throw new Error(`scrape target ${url.hostname} doesn't match client fqdn ${fqdn}`);
    const deadline = Date.now() + timeoutOf(head) * 1000;
    const res = await scrape(url, head, deadline);
    const headers = new WireHeaders();
    for (let i = 0; i < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
    headers.set(HEADER_ID, id);
    headers.set(HEADER_SCRAPE_TIMEOUT_LEGACY, ((deadline - Date.now()) / 1000).toFixed(6));
    const innerHead = serializeResponseHead({ version: { major: 1, minor: 1 }, status: res.statusCode ?? 0, reason: res.statusMessage ?? '', headers });
    const length = res.headers['content-length'];
    // A chunked exporter response stays chunked inside the push (as Go's Response.Write).
    await deliver(innerHead, res, length === undefined ? undefined : innerHead.length + Number(length));
  } catch (err) {
    errors++;
    // Upstream's error push: HTTP/0.0, the body delimited by the end of the /push body.
    const headers = new WireHeaders(id ? [[HEADER_ID, id]] : []);
    const head = serializeResponseHead({ version: { major: 0, minor: 0 }, status: 500, reason: 'Internal Server Error', headers });
    const body = Buffer.from(String(err));
    await deliver(head, undefined, head.length + body.length, body).catch(() => errors++);
  }
}

function scrape(url: URL, head: RequestHead, deadline: number): Promise<http.IncomingMessage> {
  const headers: Record<string, string> = {};
  for (const [name, value] of head.headers) headers[name] = value;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: Number(url.port || 80), path: url.pathname + url.search, method: head.method, headers, agent: scrapeAgent },
      resolve,
    );
    req.setTimeout(Math.max(1, deadline - Date.now()), () => req.destroy(new Error(`scrape of ${url.href} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function push(head: Buffer, body: http.IncomingMessage | undefined, length: number | undefined, bytes?: Buffer): Promise<void> {
  const outer: Record<string, string | number> = length === undefined ? { 'Transfer-Encoding': 'chunked' } : { 'Content-Length': length };
  const req = http.request({ host: proxy.hostname, port: Number(proxy.port), path: PATH_PUSH, method: 'POST', agent: proxyAgent, headers: outer });
  const answered = new Promise<void>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`push: expected 200, got ${res.statusCode}`))));
    });
    req.on('error', reject);
  });
  answered.catch(() => undefined);
  req.write(head);
  if (!body) req.end(bytes);
  else if (length !== undefined) await pipeline(body, req);
  else await pipeline(body, createChunkedEncoder(), req);
  await answered;
}

const channels = CHANNEL
  ? channelLoad({
      host: proxy.hostname,
      port: Number(proxy.port),
      onRequest: (fqdn, request, sink) =>
        void scrapeAndPush(fqdn, request, (head, body, length, bytes) =>
          // A chunked exporter response stays chunked inside the push, as over /push.
          sink.send(head, body && length === undefined ? body.pipe(createChunkedEncoder()) : body, bytes),
        ),
      onError: (err) => {
        errors++;
        process.stderr.write(`${String(err)}\n`);
      },
    })
  : undefined;
for (const f of fqdns) {
  if (channels) channels.start(f);
  else void pollLoop(f);
}
process.stdout.write(`ready ${fqdns.length}\n`);
process.on('SIGTERM', () => {
  stopped = true;
  channels?.stop();
  process.stderr.write(`stopping; ${errors} errors\n`);
  process.exit(0);
});
