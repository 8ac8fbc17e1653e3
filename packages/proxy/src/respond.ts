import type { ServerResponse } from 'node:http';

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
 * A reason phrase (RFC 9112 §4: HTAB, SP, VCHAR, obs-text) carrying an error
 * summary. Go clients, Prometheus among them, show the status line verbatim
 * ("server returned HTTP status 500 <reason>"), and it is free text to every
 * other peer.
 */
export function reasonPhrase(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]+/g, ' ').trim();
  return clean.length > 200 ? `${clean.slice(0, 197)}...` : clean;
}
