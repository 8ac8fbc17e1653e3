import net from 'node:net';
import tls from 'node:tls';
import { CHANNEL_PROTOCOL, HEADER_CHANNEL, HEADER_SCRAPE_TIMEOUT, PATH_POLL, PATH_PUSH } from '@pushprox/shared';
import { connectResettableTls } from '@pushprox/shared/testing';
import type { ProxyEnd } from './topology.js';

/**
 * A raw connection to a proxy, over TLS when the proxy has it (unless
 * `plainTcp`). It has an 'error' listener for its whole life: the soak's own
 * sockets must not be what crashes.
 */
export function connectRaw(proxy: ProxyEnd, plainTcp = false): Conn {
  if (!proxy.ca || plainTcp) {
    const raw = net.connect({ host: '127.0.0.1', port: proxy.port });
    raw.on('error', () => undefined);
    return { s: raw, raw };
  }
  const c = connectResettableTls({ host: '127.0.0.1', port: proxy.port, ca: proxy.ca, servername: 'localhost' });
  return { s: c.tls, raw: c.raw };
}

/** The socket to talk on (TLS or plain) and the TCP socket under it, which a reset goes to. */
export interface Conn {
  readonly s: net.Socket;
  readonly raw: net.Socket;
}

/** A TCP reset (RST) of the connection, as an aborted client sends. */
export function reset(c: Conn): void {
  // Deferred: never inside one of the socket's own callbacks.
  setImmediate(() => {
    if (!c.raw.destroyed) c.raw.resetAndDestroy();
    c.s.destroy();
  });
}

/** Resolves once the socket may be written to: connected (TCP), or handshaken (TLS). */
export function ready(s: net.Socket, capMs = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    const ev = s instanceof tls.TLSSocket ? 'secureConnect' : 'connect';
    const timer = setTimeout(() => resolve(false), capMs);
    s.once(ev, () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.once('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/** What became of a connection we left open. */
export interface Watched {
  /** The peer closed it (FIN or reset) before `capMs`. */
  readonly closedByPeer: boolean;
  readonly afterMs: number;
  /** The first line of what the peer sent, if anything. */
  readonly firstLine: string;
}

/** Watches `s` until it closes or `capMs` passes, then destroys it (reset) either way. */
export function watch(c: Conn, capMs: number, signal: AbortSignal): Promise<Watched> {
  const t0 = Date.now();
  const s = c.s;
  let settled = false;
  let first = '';
  s.on('data', (c: Buffer) => {
    if (first.length < 200) first += c.toString('latin1');
  });
  s.resume();
  return new Promise((resolve) => {
    const finish = (closedByPeer: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      reset(c);
      resolve({ closedByPeer, afterMs: Date.now() - t0, firstLine: first.split('\r\n')[0]!.slice(0, 80) });
    };
    const onAbort = (): void => finish(false);
    const timer = setTimeout(() => finish(false), capMs);
    signal.addEventListener('abort', onAbort, { once: true });
    if (s.destroyed) return finish(true);
    s.once('end', () => finish(true));
    s.once('close', () => finish(true));
  });
}

/** Waits for the first bytes the peer sends (or its close, or `capMs`). */
export function firstBytes(s: net.Socket, capMs: number): Promise<string> {
  return new Promise((resolve) => {
    let settled = false;
    const timer = setTimeout(() => done(''), capMs);
    const done = (v: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.off('data', onData);
      s.pause();
      resolve(v);
    };
    const onData = (c: Buffer): void => done(c.toString('latin1'));
    s.on('data', onData);
    s.once('close', () => done(''));
  });
}

/** A rounded-seconds bucket, so outcome keys stay few: "0s", "1s", ..., "10s", "15s", "20s", "30s". */
export function secs(ms: number): string {
  const s = ms / 1000;
  if (s < 10) return `${Math.floor(s)}s`;
  if (s < 15) return `${Math.floor(s)}s`;
  return `${Math.floor(s / 5) * 5}s`;
}

/** "HTTP/1.1 408 Request Timeout" -> "408"; anything else -> "no reply". */
export function statusOf(firstLine: string): string {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(firstLine);
  return m ? m[1]! : firstLine ? 'non-HTTP reply' : 'no reply';
}

export const EXCHANGES = ['scrape', 'connect', 'poll', 'push', 'channel', 'clients', 'metrics'] as const;
export type Exchange = (typeof EXCHANGES)[number];

/** Request heads of every exchange a peer can start, as raw bytes. */
export function heads(proxy: ProxyEnd, target: string): Record<Exchange, Buffer> {
  const host = `Host: 127.0.0.1:${proxy.port}\r\n`;
  const auth = proxy.basic ? `Proxy-Authorization: ${proxy.basic}\r\n` : '';
  const fqdn = 'soak-hostile.soak.test';
  return {
    scrape: Buffer.from(`GET ${target} HTTP/1.1\r\nHost: ${new URL(target).host}\r\n${auth}${HEADER_SCRAPE_TIMEOUT}: 10\r\nAccept-Encoding: gzip\r\n\r\n`),
    connect: Buffer.from(`CONNECT soak-hostile.soak.test:443 HTTP/1.1\r\nHost: soak-hostile.soak.test:443\r\n${auth}\r\n`),
    poll: Buffer.from(`POST ${PATH_POLL} HTTP/1.1\r\n${host}Content-Length: ${fqdn.length}\r\n\r\n${fqdn}`),
    push: Buffer.from(`POST ${PATH_PUSH} HTTP/1.1\r\n${host}Content-Length: 120\r\n\r\nHTTP/1.1 200 OK\r\nId: 0123456789\r\nContent-Length: 2\r\n\r\nok`),
    channel: Buffer.from(`GET ${PATH_POLL} HTTP/1.1\r\n${host}Connection: Upgrade\r\nUpgrade: ${CHANNEL_PROTOCOL}\r\n${HEADER_CHANNEL}: ${fqdn}\r\n\r\n`),
    clients: Buffer.from(`GET /clients HTTP/1.1\r\n${host}${proxy.basic ? `Authorization: ${proxy.basic}\r\n` : ''}\r\n`),
    metrics: Buffer.from(`GET /metrics HTTP/1.1\r\n${host}${proxy.basic ? `Authorization: ${proxy.basic}\r\n` : ''}\r\n`),
  };
}
