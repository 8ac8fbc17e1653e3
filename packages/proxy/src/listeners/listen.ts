import http, { type IncomingMessage, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatHostPort, type ListenAddress } from '@pushprox/shared';
import { createTlsServer } from './tls.js';
import { guardConnections } from './connection-guard.js';
import type { TlsSettings } from '../auth/web-config.js';
import type { ListenOn } from '../config.js';

/**
 * Bounds on how long a peer may take to send a request, so slow senders
 * (slowloris) cannot hold connections. None of them applies while a complete
 * request waits for its answer: a poll may wait for minutes.
 */
export interface ReadTimeouts {
  /** A request head must be complete this long after the connection (or the previous request) began. */
  readonly headersMs: number;
  /** Longest silence while a request body is arriving; 0 disables. */
  readonly idleMs: number;
  /** A whole request, head and body, must have arrived within this. */
  readonly requestMs: number;
}

/**
 * Arms the socket's idle timer until the request body has ended. The
 * timer counts socket activity, so a body relayed to a reader that stops
 * reading (backpressure) also counts as silence. Node's server destroys a
 * socket whose timeout fires when nobody listens for 'timeout'.
 */
function guardBody(req: IncomingMessage, idleMs: number): void {
  if (idleMs <= 0 || req.complete) return;
  const cl = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined && (cl === undefined || cl === '0')) return;
  // A body that came in the same read as its head (a poll's FQDN) is complete
  // once this turn of the event loop has parsed it, and needs no guard. A socket
  // keeps its last timer object even after setTimeout(0), so not arming one for
  // such bodies saves that object on every connection that waits for a poll answer.
  setImmediate(armUnlessComplete, req, idleMs);
}

function armUnlessComplete(req: IncomingMessage, idleMs: number): void {
  if (req.complete) return;
  const socket = req.socket;
  socket.setTimeout(idleMs);
  const disarm = (): void => {
    if (!socket.destroyed) socket.setTimeout(0);
  };
  req.once('end', disarm);
}

/** Idle time before the first TCP keep-alive probe on an accepted connection. */
export const TCP_KEEPALIVE_MS = 60_000;

export function createListener(tls: TlsSettings | undefined, handler: RequestListener, t: ReadTimeouts): http.Server {
  const guarded: RequestListener = (req, res) => {
    guardBody(req, t.idleMs);
    handler(req, res);
  };
  const options: http.ServerOptions = {
    // Node checks headersTimeout and requestTimeout every connectionsCheckingInterval.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(t.headersMs / 4))),
    // TCP keep-alive probes on connections idle this long (as undici's on the
    // client side): a client host that vanished is found by the kernel, and
    // NAT mappings stay open, without any traffic of ours on idle polls.
    keepAlive: true,
    keepAliveInitialDelay: TCP_KEEPALIVE_MS,
  };
  const server = tls
    ? createTlsServer(tls, guarded, { ...options, handshakeTimeout: t.headersMs } as http.ServerOptions)
    : http.createServer(options, guarded);
  guardConnections(server, t.headersMs, tls !== undefined);
  server.requestTimeout = Math.max(t.requestMs, t.headersMs);
  server.headersTimeout = t.headersMs;
  // Longer than Go's 90 s idle timeout on the peers, so we are never the side that races a reuse.
  server.keepAliveTimeout = 95_000;
  return server;
}

/**
 * Connections the kernel queues before the proxy accepts them. Node's default
 * (511) overflows when a fleet reconnects at once after a restart: SYNs past
 * it are dropped and retried only 1 s, then 3 s, later. Go's net.Listen (so
 * upstream's proxy) asks for net.core.somaxconn; the kernel caps this at it too.
 */
export const LISTEN_BACKLOG = 4096;

/** Listens on `on`: an address, or a socket inherited from systemd (its descriptor; systemd's Backlog= applies). */
export async function listen(server: http.Server, on: ListenOn): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen('fd' in on ? { fd: on.fd } : { host: on.host, port: on.port, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

/** A URL peers on this host can use: wildcard binds become loopback. */
export function localUrl(tls: boolean, on: ListenOn, bound: AddressInfo): string {
  const host = ('fd' in on ? bound.address : on.host) ?? (bound.family === 'IPv6' ? '::1' : '127.0.0.1');
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `${tls ? 'https' : 'http'}://${formatHostPort(reachable, bound.port)}`;
}

