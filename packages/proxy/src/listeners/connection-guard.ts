import http, { type IncomingMessage } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';

/** When a raw TCP connection was accepted (performance.now()), kept on the socket for the TLS socket above it. */
const ACCEPTED_AT = Symbol('pushprox.acceptedAt');

type Accepted = Socket & { [ACCEPTED_AT]?: number };

const REQUEST_TIMEOUT_ANSWER = `HTTP/1.1 408 ${http.STATUS_CODES[408]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
/**
 * Go's net/http answer, byte for byte, when plain HTTP arrives on a TLS port
 * (upstream's proxy behind exporter-toolkit sends it): the peer learns the port
 * speaks TLS instead of seeing a reset. Written on the raw TCP socket, below TLS.
 */
export const PLAIN_HTTP_ON_TLS_ANSWER = 'HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n';
/** OpenSSL's verdicts on a first record that is an HTTP request line (`GET /`, `CONNECT`), as Node reports them. */
const PLAIN_HTTP_CODES: ReadonlySet<string> = new Set(['ERR_SSL_HTTP_REQUEST', 'ERR_SSL_HTTPS_PROXY_REQUEST']);

/** How long a socket answered 408 may take to read it before it is destroyed. */
const CLOSE_GRACE_MS = 1_000;

/**
 * Invariant: every socket a listener accepts, raw TCP and TLS alike, has an
 * 'error' listener from its first moment to its last. Node's HTTP server
 * removes its own when it hands a socket on ('connect', 'upgrade') or gives up
 * on it; a reset after that (a CONNECT refused and then reset by its sender
 * stopped the process) must not be an uncaught exception.
 */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/**
 * Guards every connection of `server`:
 * - answers a request the HTTP parser refused (`400`, `408`, `431`) and closes;
 * - the permanent 'error' listener above, on raw and TLS sockets;
 * - the first request head must be complete within `headersMs` of the TCP
 *   accept, TLS handshake included (Node's own headersTimeout counts from the
 *   first byte, so a peer silent for a while and then sending a line every few
 *   seconds was cut late, and a TLS peer that never sent a byte was never cut).
 *   The peer gets `408` and a close; one still in its TLS handshake is closed
 *   by tls.Server's handshakeTimeout, which the caller sets to `headersMs`.
 *   Later requests on a kept-alive connection are timed by Node's headersTimeout
 *   from their first byte (the wait before it is keepAliveTimeout's).
 */
export function guardConnections(server: NetServer, headersMs: number, tls: boolean): void {
  const deadlines = new WeakMap<Duplex, NodeJS.Timeout>();
  const arm = (socket: Duplex, ms: number): void => {
    const timer = setTimeout(expire, Math.max(0, ms), socket).unref();
    deadlines.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  };
  // Sockets past their TLS handshake (all of a plain listener's): only they can carry an HTTP answer.
  const secured = new WeakSet<Duplex>();
  server.on('connection', (socket: Accepted) => {
    socket.on('error', destroyOnError);
    if (!tls) return arm(socket, headersMs);
    socket[ACCEPTED_AT] = performance.now();
  });
  if (tls) {
    server.on('secureConnection', (socket: TLSSocket) => {
      socket.on('error', destroyOnError);
      secured.add(socket);
      // _parent is the raw socket a TLS server socket wraps; without it the head gets its full time.
      const acceptedAt = (socket as TLSSocket & { _parent?: Accepted })._parent?.[ACCEPTED_AT] ?? performance.now();
      arm(socket, headersMs - (performance.now() - acceptedAt));
    });
  }
  // https.Server reports TLS failures (a handshake timeout, a plaintext request) as clientError too.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const handshaking = tls && !secured.has(socket);
    if (handshaking && PLAIN_HTTP_CODES.has(err.code ?? '')) return answerPlainHttp(socket as TLSSocket);
    if (handshaking || !socket.writable) return void socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    endThenDestroy(socket, `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  const headArrived = (req: IncomingMessage): void => {
    clearTimeout(deadlines.get(req.socket));
    deadlines.delete(req.socket);
  };
  server.on('request', headArrived);
  server.on('upgrade', headArrived);
  server.on('connect', headArrived);
}

/** Writes `answer` and a FIN; the peer has CLOSE_GRACE_MS to read it before the socket is destroyed. */
export function endThenDestroy(socket: Duplex, answer: string, also?: Duplex): void {
  socket.end(answer);
  setTimeout(() => {
    socket.destroy();
    also?.destroy();
  }, CLOSE_GRACE_MS).unref();
}

/** Answers plain HTTP on a TLS port as Go does, on the TCP socket under the TLS one (which keeps its 'error' listener). */
function answerPlainHttp(socket: TLSSocket): void {
  const raw = (socket as TLSSocket & { _parent?: Socket })._parent;
  if (raw === undefined || !raw.writable) return void socket.destroy();
  endThenDestroy(raw, PLAIN_HTTP_ON_TLS_ANSWER, socket);
}

function expire(socket: Duplex): void {
  if (socket.destroyed) return;
  if (!socket.writable) return void socket.destroy();
  endThenDestroy(socket, REQUEST_TIMEOUT_ANSWER);
}
