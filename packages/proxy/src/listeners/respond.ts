import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { reasonPhrase } from '@pushprox/shared';

/**
 * Plain-text answer shaped like Go's http.Error, which upstream peers and
 * operators' scripts see: text/plain, nosniff, and a trailing newline.
 */
export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  extra?: Record<string, string>,
  reason?: string,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = Buffer.from(`${text}\n`);
  res.writeHead(status, reason === undefined ? undefined : reasonPhrase(reason), {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': body.length,
    ...extra,
  });
  res.end(body);
}

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
