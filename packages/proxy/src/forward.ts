import type { IncomingHttpHeaders } from 'node:http';
import {
  HEADER_ID,
  HEADER_SCRAPE_TIMEOUT,
  HOP_BY_HOP_HEADERS,
  WireHeaders,
  serializeRequestHead,
} from '@pushprox/shared';

/**
 * The scrape's deadline, as upstream's util.GetScrapeTimeout: Prometheus'
 * X-Prometheus-Scrape-Timeout-Seconds (float seconds) if it parses as a
 * positive number, else the default; clamped to the maximum.
 */
export function scrapeTimeoutMs(header: string | undefined, defaultMs: number, maxMs: number): number {
  const secs = header === undefined ? NaN : Number(header.trim());
  const ms = Number.isFinite(secs) && secs > 0 && header!.trim() !== '' ? secs * 1000 : defaultMs;
  return Math.min(ms, maxMs);
}

/** Go's textproto.CanonicalMIMEHeaderKey, so header bytes match upstream's. */
export function canonicalHeaderName(name: string): string {
  if (!/^[A-Za-z0-9-]+$/.test(name)) return name;
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase());
}

const NOT_FORWARDED = new Set([...HOP_BY_HOP_HEADERS, 'host', 'user-agent', 'content-length', HEADER_ID.toLowerCase()]);

/**
 * Serializes the scrape for the client as Go's Request.WriteProxy does:
 * absolute-form request line, Host, User-Agent, then the other headers sorted
 * by canonical name, with our Id. The effective timeout is always sent, so
 * upstream clients (which fail without it) work behind a plain `curl -x`.
 */
export function buildScrapeRequest(args: {
  method: string;
  target: string;
  host: string;
  headers: IncomingHttpHeaders;
  id: string;
  timeoutMs: number;
}): Buffer {
  const rest: Array<[string, string]> = [];
  let timeoutHeader: string | undefined;
  for (const [name, value] of Object.entries(args.headers)) {
    if (value === undefined || NOT_FORWARDED.has(name)) continue;
    if (name === HEADER_SCRAPE_TIMEOUT.toLowerCase()) {
      timeoutHeader = Array.isArray(value) ? value[0] : value;
      continue;
    }
    const canon = canonicalHeaderName(name);
    for (const v of Array.isArray(value) ? value : [value]) rest.push([canon, v]);
  }
  // Keep Prometheus' own value when it was used as is, so bytes match upstream.
  const secs = args.timeoutMs / 1000;
  const sent = timeoutHeader !== undefined && Number(timeoutHeader) === secs ? timeoutHeader : String(secs);
  rest.push([HEADER_ID, args.id], [HEADER_SCRAPE_TIMEOUT, sent]);
  rest.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const headers = new WireHeaders([['Host', args.host]]);
  const ua = args.headers['user-agent'];
  if (ua !== undefined) headers.append('User-Agent', ua);
  for (const [n, v] of rest) headers.append(n, v);
  return serializeRequestHead({
    method: args.method,
    target: args.target,
    version: { major: 1, minor: 1 },
    headers,
  });
}
