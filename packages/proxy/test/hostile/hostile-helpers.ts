import type net from 'node:net';
import {
  HEADER_ID,
  HEADER_POLL_CAPACITY,
  HEADER_SCRAPE_TIMEOUT,
  PATH_POLL,
  PATH_PUSH,
  WireError,
  parseRequest,
  parseResponse,
  type ResponseHead,
} from '@pushprox/shared';
import type { RunningProxy } from '../../src/listeners/server.js';
import { connect, exchange, until } from '../helpers.js';

/**
 * Raw-byte helpers for the hostile-input tests: every request is written
 * byte for byte on its own loopback connection, every answer is read until
 * the proxy closes (bounded), and then judged by our strict codec.
 */

export const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** An upstream-shaped poll; `capacity` adds our multi-poll header. */
export function pollRequest(fqdn: string, capacity?: number): Buffer {
  const body = latin1(fqdn);
  const cap = capacity === undefined ? '' : `${HEADER_POLL_CAPACITY}: ${capacity}\r\n`;
  return Buffer.concat([latin1(`POST ${PATH_POLL} HTTP/1.1\r\nHost: proxy\r\n${cap}Content-Length: ${body.length}\r\n\r\n`), body]);
}

/** A Prometheus scrape through proxy_url; `Connection: close` so the answer ends with the connection. */
export function scrapeRequest(url: string, timeoutSeconds: string): Buffer {
  return latin1(`GET ${url} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n${HEADER_SCRAPE_TIMEOUT}: ${timeoutSeconds}\r\n\r\n`);
}

/** A /push whose body is exactly `inner` (the pushed response), framed by Content-Length. */
export function pushRequest(inner: Buffer | string): Buffer {
  const body = typeof inner === 'string' ? latin1(inner) : inner;
  return Buffer.concat([latin1(`POST ${PATH_PUSH} HTTP/1.1\r\nHost: proxy\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
}

export interface Drained {
  readonly bytes: Buffer;
  /** The peer closed within the time allowed (false: we gave up and destroyed the socket). */
  readonly closed: boolean;
}

/** Every byte the peer sends until it closes, or until `ms` have passed. */
export function drain(socket: net.Socket, ms: number): Promise<Drained> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(parts), closed });
    };
    const timer = setTimeout(() => done(false), ms);
    socket.on('data', (c: Buffer) => parts.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => done(true));
  });
}

export type Judged =
  | { readonly complete: true; readonly head: ResponseHead; readonly body: Buffer }
  | { readonly complete: false; readonly code: string; readonly bytes: number };

/**
 * What an HTTP client that reads to the end of the connection makes of the
 * bytes: one complete, unambiguous response (nothing after it), or not.
 */
export function judge(bytes: Buffer): Judged {
  try {
    const r = parseResponse(bytes);
    return { complete: true, head: r.head, body: r.body };
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    return { complete: false, code: err.code, bytes: bytes.length };
  }
}

/** Writes `bytes` on a fresh connection and reads until the proxy closes it. */
export async function send(port: number, bytes: Buffer, ms = 5000): Promise<Drained> {
  const s = await connect(port);
  s.write(bytes);
  return drain(s, ms);
}

export interface ParkedScrape {
  /** The Id the proxy gave the scrape (taken from the poll reply). */
  readonly id: string;
  /** What the Prometheus side receives, read until the proxy closes. */
  readonly answer: Promise<Drained>;
}

/**
 * Parks a real scrape of `http://<fqdn>:9100/metrics`: one poll waits, the
 * scrape is handed to it, and the scrape then waits for its push.
 */
export async function parkScrape(proxy: RunningProxy, fqdn: string, timeoutSeconds: string): Promise<ParkedScrape> {
  const port = proxy.address.port;
  const poll = exchange(port, pollRequest(fqdn));
  // Once the FQDN is known, a scrape that overtakes the poll waits for it.
  await until(() => proxy.coordinator.registry.list().includes(fqdn), 2000, `a poll for ${fqdn}`);
  const s = await connect(port);
  s.write(scrapeRequest(`http://${fqdn}:9100/metrics`, timeoutSeconds));
  const answer = drain(s, 10_000);
  const id = parseRequest((await poll).body).head.headers.get(HEADER_ID);
  if (id === undefined) throw new Error('poll reply carried no Id');
  return { id, answer };
}

/** The proxy holds no scrape and no poll (after a case). */
export function idle(proxy: RunningProxy, ms = 2000): Promise<void> {
  const zero = () => {
    const s = proxy.coordinator.stats();
    return s.waitingPolls === 0 && s.pendingScrapes === 0 && s.activeScrapes === 0;
  };
  return until(zero, ms, `an idle proxy (now ${JSON.stringify(proxy.coordinator.stats())})`);
}
