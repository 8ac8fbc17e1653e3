import net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  CHANNEL_PROTOCOL,
  encodeFrame,
  FRAME,
  FrameReader,
  HEADER_CHANNEL,
  HEADER_ID,
  HEADER_POLL_CAPACITY,
  HEADER_SCRAPE_TIMEOUT,
  PATH_POLL,
  silentLogger,
} from '@pushprox/shared';
import { PROXY_DEFAULTS } from '../config.js';
import { startProxy, type RunningProxy } from '../listeners/server.js';

/**
 * Default rounds of the warm-up: 30, as the client's. A new proxy compiles
 * its scrape path (request parsing, the coordinator, the channel relay, the
 * answer to Prometheus) while its first scrapes run: under Prometheus every
 * 2 s those took several times a warm scrape's time (BENCHMARKS.md, Under
 * Prometheus).
 */
export const DEFAULT_PROXY_WARM_UP_ROUNDS = 30;
/** Default bound on the warm-up's wall time: 500 ms; it stops after the round running then. */
export const DEFAULT_PROXY_WARM_UP_MAX_MS = 500;
/** Bytes of a warm-up answer's head or of the 101's head read before the connection is given up. */
const MAX_HEAD_BYTES = 16 * 1024;
/** The warm-up client's name: `.invalid` (RFC 6761) never names a real host. */
const WARM_UP_FQDN = 'warm-up.invalid';

export interface ProxyWarmUpOptions {
  /** Scrapes to run. Default DEFAULT_PROXY_WARM_UP_ROUNDS. */
  readonly rounds?: number;
  /** Stops starting rounds after this long. Default DEFAULT_PROXY_WARM_UP_MAX_MS. */
  readonly maxMs?: number;
}

export interface ProxyWarmUpResult {
  /** Scrapes answered 200 with the whole body. */
  readonly rounds: number;
  readonly ms: number;
}

/** An exposition body of about 12 KB, the size of a small exporter's. */
const BODY = Buffer.from(`# HELP warm_up_seconds A metric.\n# TYPE warm_up_seconds gauge\n${'warm_up_seconds{cpu="0",mode="idle"} 12345.67\n'.repeat(260)}`);
/** The answer's body and its end, framed once: each round frames only its head, which carries the round's Id. */
const BODY_AND_END = Buffer.concat([encodeFrame(FRAME.DATA, BODY), encodeFrame(FRAME.END)]);
const ID_LINE = new RegExp(`\r\n${HEADER_ID}: ([^\r]*)\r\n`, 'i');

/** A socket whose errors end it, connected to 127.0.0.1:`port`. */
function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    s.on('error', () => s.destroy());
    s.once('connect', () => resolve(s));
    s.once('close', () => reject(new Error('the warm-up connection closed')));
  });
}

/**
 * Plays our client on a channel: answers each REQUEST with a 200 carrying BODY
 * under the request's Id, and PING with PONG. Resolves once the 101 arrived.
 */
async function openChannel(port: number): Promise<net.Socket> {
  const s = await connect(port);
  s.write(
    `GET ${PATH_POLL} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: ${CHANNEL_PROTOCOL}\r\n` +
      `${HEADER_CHANNEL}: ${WARM_UP_FQDN}\r\n${HEADER_POLL_CAPACITY}: 1\r\n\r\n`,
  );
  const reader = new FrameReader(
    {
      onData: () => undefined,
      onFrame: (type, payload) => {
        if (type === FRAME.PING) return void s.write(encodeFrame(FRAME.PONG));
        if (type !== FRAME.REQUEST) return;
        const id = ID_LINE.exec(payload.toString('latin1'))?.[1] ?? '';
        const head = `HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: ${BODY.length}\r\n${HEADER_ID}: ${id}\r\n${HEADER_SCRAPE_TIMEOUT}: 9.000000\r\n\r\n`;
        s.write(Buffer.concat([encodeFrame(FRAME.DATA, Buffer.from(head, 'latin1')), BODY_AND_END]));
      },
    },
    [FRAME.REQUEST, FRAME.PING, FRAME.ERROR, FRAME.RECONNECT],
  );
  const feed = (c: Buffer): void => {
    try {
      reader.push(c);
    } catch {
      s.destroy();
    }
  };
  let head = Buffer.alloc(0);
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEAD_BYTES) s.destroy();
        return;
      }
      if (!head.subarray(0, end).toString('latin1').startsWith('HTTP/1.1 101 ')) return void s.destroy();
      s.off('data', onData);
      s.on('data', feed);
      feed(head.subarray(end + 4));
      resolve();
    };
    s.on('data', onData);
    s.once('close', () => reject(new Error('the warm-up channel was refused')));
  });
  return s;
}

/** One scrape as Prometheus sends it through proxy_url, on the kept-alive `s`; resolves once the whole 200 arrived. */
function scrapeOnce(s: net.Socket, request: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending = Buffer.alloc(0);
    let left = -1;
    const done = (err?: Error): void => {
      s.off('data', onData);
      s.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onClose = (): void => done(new Error('the warm-up scrape connection closed'));
    const onData = (chunk: Buffer): void => {
      if (left >= 0) {
        left -= chunk.length;
        if (left <= 0) done();
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return void (pending.length > MAX_HEAD_BYTES && s.destroy());
      const head = pending.subarray(0, end).toString('latin1');
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!head.startsWith('HTTP/1.1 200 ') || !length) return done(new Error(`the warm-up scrape was answered ${JSON.stringify(head.slice(0, 80))}`));
      left = Number(length[1]) - (pending.length - end - 4);
      if (left <= 0) done();
    };
    s.on('data', onData);
    s.once('close', onClose);
    s.write(request);
  });
}

/**
 * Runs the proxy's scrape path `rounds` times on a proxy of its own, before
 * the real one starts: an instance of startProxy on 127.0.0.1 at a port the
 * kernel picks, with a channel from a stand-in client, scraped as Prometheus
 * scrapes through proxy_url. The functions it runs are the real proxy's, so
 * their compiled code and type feedback serve its first scrapes. Nothing of
 * it reaches the real proxy's registry, metrics or status; everything is
 * closed before this returns. A failed round ends the warm-up early, and a
 * failure to set it up only skips it: this never throws.
 */
export async function warmUpProxy(o: ProxyWarmUpOptions = {}): Promise<ProxyWarmUpResult> {
  const rounds = o.rounds ?? DEFAULT_PROXY_WARM_UP_ROUNDS;
  const maxMs = o.maxMs ?? DEFAULT_PROXY_WARM_UP_MAX_MS;
  const started = performance.now();
  let done = 0;
  if (rounds <= 0) return { rounds: 0, ms: 0 };
  let proxy: RunningProxy | undefined;
  const sockets: net.Socket[] = [];
  try {
    proxy = await startProxy(
      {
        listen: { host: '127.0.0.1', port: 0 },
        scrapeMaxTimeoutMs: 10_000,
        scrapeDefaultTimeoutMs: 10_000,
        registrationTimeoutMs: 60_000,
        pollIdleTimeoutMs: 0,
        pollMaxPerFqdn: PROXY_DEFAULTS.pollMaxPerFqdn,
        pushMaxBodyBytes: 1024 * 1024,
        shutdownTimeoutMs: 100,
      },
      { logger: silentLogger },
    );
    const port = proxy.address.port;
    sockets.push(await openChannel(port));
    const scraper = await connect(port);
    sockets.push(scraper);
    const target = `http://${WARM_UP_FQDN}:9100/metrics`;
    const request = Buffer.from(
      `GET ${target} HTTP/1.1\r\nHost: ${WARM_UP_FQDN}:9100\r\nUser-Agent: Prometheus/2.42.0\r\n` +
        'Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\nAccept-Encoding: gzip\r\n' +
        `${HEADER_SCRAPE_TIMEOUT}: 9\r\n\r\n`,
      'latin1',
    );
    while (done < rounds && performance.now() - started < maxMs) {
      await scrapeOnce(scraper, request);
      done++;
    }
  } catch {
    // No loopback listener, or a round failed: the warm-up ends there, and no harm.
  } finally {
    for (const s of sockets) s.destroy();
    await proxy?.close().catch(() => undefined);
  }
  return { rounds: done, ms: performance.now() - started };
}
