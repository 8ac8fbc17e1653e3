import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import { sendText } from '@pushprox/shared/web/respond-text';

export { sendText };

/**
 * sendText's answer written on a socket the HTTP server has handed over (an
 * upgrade request), then the socket is ended.
 */
export function endWithText(socket: Duplex, status: number, text: string): void {
  const body = `${text}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `X-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** How long a connection closed with its request body unread stays open after the answer. */
export const LINGER_MS = 500;

/**
 * sendText with `Connection: close`, for a request refused before its body
 * was read (too large, throttled). Node answers, keeps draining the body, and
 * destroys the socket as soon as the answer is written; the kernel then meets
 * the body bytes still arriving with an RST, which can discard the answer
 * before the peer has read it (a refused push was seen as a reset in about one
 * case in five). Here the socket ends (FIN) and is destroyed LINGER_MS later,
 * or as soon as the peer closes its side, as Go's server waits before closing
 * such a connection. Node's server calls destroySoon() for the last response
 * of a connection; this socket's does the above instead.
 */
export function sendTextAndClose(res: ServerResponse, status: number, text: string, extra?: Record<string, string>): void {
  const socket = res.socket as (Socket & { destroySoon?: () => void }) | null;
  if (socket && !socket.destroyed) {
    socket.destroySoon = () => {
      if (socket.writable) socket.end();
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    };
  }
  sendText(res, status, text, { ...extra, Connection: 'close' });
}
