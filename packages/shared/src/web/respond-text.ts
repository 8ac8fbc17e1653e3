import type { ServerResponse } from 'node:http';
import { reasonPhrase } from '../http/syntax.js';

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
