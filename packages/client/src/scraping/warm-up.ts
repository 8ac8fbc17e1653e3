import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { BufferReclaimer, HEADER_ID, HEADER_SCRAPE_TIMEOUT, silentLogger } from '@pushprox/shared';
import { PlainHttp } from '../exporter-http/plain-http.js';
import { ClientChannel } from '../transport/channel.js';
import { parseScrapeRequest } from '../transport/poll-reply.js';
import { ScrapeJob, type JobMetrics } from './job.js';

/**
 * Default rounds of the warm-up: 30. Under Prometheus every 2 s (20 targets,
 * 2-minute runs) the median first scrape per target took 10.1 ms without a
 * warm-up, 6.7 ms after 30 rounds and 6.2 ms after 300 (upstream's 3.2-3.7);
 * 30 rounds take about 20 ms and add about 1 MB to the client's RSS, 300
 * rounds about 5 MB. The later scrapes were the same with or without.
 */
export const DEFAULT_WARM_UP_ROUNDS = 30;
/** Default bound on the warm-up's wall time: 1 s; it stops after the round running then. */
export const DEFAULT_WARM_UP_MAX_MS = 1000;
/** Bytes a warm-up exporter connection may send without ending a request head before it is closed. */
const MAX_REQUEST_HEAD_BYTES = 16 * 1024;

export interface WarmUpOptions {
  /** Scrapes to run. Default DEFAULT_WARM_UP_ROUNDS. */
  readonly rounds?: number;
  /** Stops starting rounds after this long. Default DEFAULT_WARM_UP_MAX_MS. */
  readonly maxMs?: number;
  /** Satisfies JobDeps; the warm-up's requests all go through its own PlainHttp, never through this. */
  readonly dispatcher: Dispatcher;
}

export interface WarmUpResult {
  readonly rounds: number;
  /** Rounds that scraped and pushed without an error. */
  readonly ok: number;
  readonly ms: number;
}

/** An exposition body of about 12 KB, the size of a small exporter's. */
const BODY = Buffer.from(`# HELP warm_up_seconds A metric.\n# TYPE warm_up_seconds gauge\n${'warm_up_seconds{cpu="0",mode="idle"} 12345.67\n'.repeat(260)}`);
const RESPONSE = Buffer.concat([
  Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nDate: Mon, 07 Dec 2026 12:00:00 GMT\r\nContent-Length: ${BODY.length}\r\n\r\n`),
  BODY,
]);

/** Each round's failures land here instead of the client's metrics. */
function countingMetrics(): JobMetrics & { errors: number } {
  const m = {
    errors: 0,
    scrapeErrors: { inc: () => void m.errors++ },
    pushErrors: { inc: () => void m.errors++ },
    scrapesRefused: { inc: () => void m.errors++ },
  };
  return m;
}

/** A loopback listener whose accepted sockets are tracked, error-handled and destroyed with it. */
async function loopbackServer(onSocket: (s: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => s.destroy());
    s.on('close', () => sockets.delete(s));
    onSocket(s);
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

/** Answers every request head it reads with RESPONSE, on a kept-alive connection. */
function answerRequests(s: net.Socket): void {
  let pending = '';
  s.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
      pending = pending.slice(end + 4);
      s.write(RESPONSE);
    }
    if (pending.length > MAX_REQUEST_HEAD_BYTES) s.destroy();
  });
}

/**
 * Runs the client's whole scrape path (request parsing, ScrapeJob, the
 * plain-http exporter connection and its response parser, the push over a
 * channel) against a loopback exporter and a loopback sink, `rounds` times,
 * before the client takes its first scrape. Without it the first scrapes of a
 * new client compile the path as they go (see DEFAULT_WARM_UP_ROUNDS for
 * what it changes). Nothing of
 * it is counted in the client's metrics or status; both listeners are on
 * 127.0.0.1, on ports the kernel picks, and closed before this returns. A
 * failed round ends the warm-up early, and no listener only skips it: this
 * never throws.
 */
export async function warmUpScrapePath(o: WarmUpOptions): Promise<WarmUpResult> {
  const rounds = o.rounds ?? DEFAULT_WARM_UP_ROUNDS;
  const maxMs = o.maxMs ?? DEFAULT_WARM_UP_MAX_MS;
  const started = performance.now();
  const plain = new PlainHttp();
  const metrics = countingMetrics();
  let exporter: Awaited<ReturnType<typeof loopbackServer>> | undefined;
  let sink: Awaited<ReturnType<typeof loopbackServer>> | undefined;
  let socket: net.Socket | undefined;
  let done = 0;
  try {
    exporter = await loopbackServer(answerRequests);
    sink = await loopbackServer((s) => s.resume());
    const sock = (socket = net.connect({ host: '127.0.0.1', port: sink.port, noDelay: true }));
    sock.on('error', () => sock.destroy());
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('close', () => reject(new Error('the warm-up sink closed')));
    });
    const channel = new ClientChannel(sock, { onRequest: () => undefined, onProxyError: () => undefined, onReconnect: () => undefined, onClosed: () => undefined, logger: silentLogger });
    const deps = {
      fqdn: '127.0.0.1',
      dispatcher: o.dispatcher,
      plainHttp: plain,
      push: { origin: 'http://warm-up.invalid', path: '/push', dispatcher: o.dispatcher },
      metrics,
      logger: silentLogger,
      reclaimer: new BufferReclaimer(),
    };
    const hostPort = `127.0.0.1:${exporter.port}`;
    // As our proxy frames a scrape from Prometheus; each round parses it anew.
    const bytes = Buffer.from(
      `GET http://${hostPort}/metrics HTTP/1.1\r\nHost: ${hostPort}\r\nUser-Agent: Prometheus/2.42.0\r\n` +
        'Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\nAccept-Encoding: gzip\r\n' +
        `${HEADER_ID}: ${randomUUID()}\r\n${HEADER_SCRAPE_TIMEOUT}: 10\r\n\r\n`,
      'latin1',
    );
    // The first failed round ends the warm-up.
    while (done < rounds && metrics.errors === 0 && performance.now() - started < maxMs) {
      const { head, body } = parseScrapeRequest(bytes);
      const job = new ScrapeJob({ head, body, receivedAt: performance.now() }, deps);
      try {
        await job.run(channel);
      } finally {
        job.dispose();
      }
      done++;
    }
  } catch {
    // No loopback listener or sink: no warm-up, and no harm.
  } finally {
    socket?.destroy();
    plain.close();
    exporter?.close();
    sink?.close();
  }
  return { rounds: done, ok: done - Math.min(metrics.errors, 1), ms: performance.now() - started };
}
