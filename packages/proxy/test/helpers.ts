import http from 'node:http';
import net from 'node:net';
import { buffer } from 'node:stream/consumers';
import { readResponse, silentLogger, type ResponseHead } from '@pushprox/shared';
import { startProxy, type RunningProxy } from '../src/listeners/server.js';
import type { ProxyConfig } from '../src/config.js';

export const TEST_CONFIG = {
  listen: { host: '127.0.0.1', port: 0 },
  scrapeMaxTimeoutMs: 300_000,
  scrapeDefaultTimeoutMs: 15_000,
  registrationTimeoutMs: 300_000,
  pollIdleTimeoutMs: 30_000,
  pollMaxPerFqdn: 16,
  pushMaxBodyBytes: 512 * 1024 * 1024,
  shutdownTimeoutMs: 2_000,
  registrationMaxClients: 10_000,
} satisfies Partial<ProxyConfig>;

export async function withProxy<T>(
  over: Partial<typeof TEST_CONFIG>,
  fn: (proxy: RunningProxy) => Promise<T>,
): Promise<T> {
  const proxy = await startProxy({ ...TEST_CONFIG, ...over }, { logger: silentLogger });
  try {
    return await fn(proxy);
  } finally {
    await proxy.close();
  }
}

export interface RawExchange {
  readonly head: ResponseHead;
  readonly body: Buffer;
  readonly socket: net.Socket;
}

/** Opens a TCP connection to the proxy and writes exactly `bytes`. */
export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Sends raw request bytes and reads one response with our codec. The
 * response must be framed (Content-Length or chunked) unless the server
 * closes. Rejects after `timeoutMs`.
 */
export async function exchange(port: number, bytes: Buffer | string, timeoutMs = 5000): Promise<RawExchange> {
  const socket = await connect(port);
  socket.write(closing(Buffer.from(bytes)));
  return readOne(socket, timeoutMs);
}

/**
 * Adds `Connection: close` after the request line, so the server closes once
 * it has answered and the streamed reader sees the end of the response. The
 * rest of the bytes are sent exactly as given.
 */
export function closing(bytes: Buffer): Buffer {
  const eol = bytes.indexOf('\r\n');
  return Buffer.concat([bytes.subarray(0, eol + 2), Buffer.from('Connection: close\r\n'), bytes.subarray(eol + 2)]);
}

export async function readOne(socket: net.Socket, timeoutMs = 5000): Promise<RawExchange> {
  const timer = setTimeout(() => socket.destroy(new Error(`no complete response within ${timeoutMs} ms`)), timeoutMs);
  try {
    const { head, body } = await readResponse(socket);
    const bytes = await buffer(body);
    return { head, body: bytes, socket };
  } finally {
    clearTimeout(timer);
  }
}


/** Replaces the `Id` value in a fixture with `id` (same length, so framing stays right). */
export function withId(fixtureBytes: Buffer, id: string): Buffer {
  const s = fixtureBytes.toString('latin1');
  const out = s.replace(/\r\nId: [0-9a-f-]{36}\r\n/, `\r\nId: ${id}\r\n`);
  if (out === s) throw new Error('fixture has no Id header');
  return Buffer.from(out, 'latin1');
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export interface TextReply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One node:http request with `body`, its answer read as text; fails after 20 s without one. */
export function requestText(options: http.RequestOptions, body?: string | Buffer): Promise<TextReply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ timeout: 20_000, ...options }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 20 s')));
    req.on('error', reject);
    req.end(body);
  });
}
