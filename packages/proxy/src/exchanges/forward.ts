import type { IncomingHttpHeaders } from 'node:http';
import {
  HEADER_ID,
  HEADER_SCRAPE_TIMEOUT,
  BoundedMemo,
  HOP_BY_HOP_HEADERS,
  serializeRequestHeadFlat,
} from '@pushprox/shared';

/**
 * The scrape's deadline, as upstream's util.GetScrapeTimeout: Prometheus'
 * X-Prometheus-Scrape-Timeout-Seconds (float seconds) if it parses as a
 * positive number, else the default; clamped to the maximum.
 */
export function scrapeTimeoutMs(header: string | undefined, defaultMs: number, maxMs: number): number {
  // Number('') is 0 and Number('junk') NaN: both fall back to the default.
  const secs = Number(header);
  const ms = Number.isFinite(secs) && secs > 0 ? secs * 1000 : defaultMs;
  return Math.min(ms, maxMs);
}

/**
 * How long the proxy itself waits: a little less than Prometheus does, so
 * that when a client is late Prometheus receives our answer, which says why,
 * instead of giving up with its own bare "context deadline exceeded". The
 * margin is 5% of the timeout, at least 100 ms (a tenth of a timeout under
 * 1 s) and at most 500 ms: with 50 ms for a 1 s timeout, a busy machine
 * delivered the answer after Prometheus had given up.
 */
export function answerWithinMs(timeoutMs: number): number {
  return timeoutMs - Math.min(500, Math.max(Math.min(100, timeoutMs * 0.1), timeoutMs * 0.05));
}

/**
 * Names already canonicalized (Node's lower-case header names), at most 256
 * of at most 64 chars (see BoundedMemo).
 */
const CANONICAL = new BoundedMemo<string>(256, 64);

/** Go's textproto.CanonicalMIMEHeaderKey, so header bytes match upstream's. */
export function canonicalHeaderName(name: string): string {
  return CANONICAL.get(name, canonicalize);
}

function canonicalize(name: string): string {
  return /^[A-Za-z0-9-]+$/.test(name) ? name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase()) : name;
}

const SCRAPE_TIMEOUT_LOWER = HEADER_SCRAPE_TIMEOUT.toLowerCase();
const NOT_FORWARDED = new Set([...HOP_BY_HOP_HEADERS, 'host', 'user-agent', 'content-length', HEADER_ID.toLowerCase()]);

/**
 * Serializes the scrape for the client as Go's Request.WriteProxy does:
 * absolute-form request line, Host, User-Agent, then the other headers sorted
 * by canonical name, with our Id. `timeoutMs` (the time the proxy waits) is
 * always sent, so upstream clients (which fail without it) work behind a
 * plain `curl -x`.
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
  for (const name in args.headers) {
    const value = args.headers[name];
    if (value === undefined || NOT_FORWARDED.has(name)) continue;
    if (name === SCRAPE_TIMEOUT_LOWER) continue;
    const canon = canonicalHeaderName(name);
    if (typeof value === 'string') rest.push([canon, value]);
    else for (const v of value) rest.push([canon, v]);
  }
  // The client gets the time the proxy will wait, so its answer (even an
  // error push) arrives while the proxy is still listening.
  rest.push([HEADER_ID, args.id], [HEADER_SCRAPE_TIMEOUT, String(Math.round(args.timeoutMs) / 1000)]);
  rest.sort(byName);
  const fields = ['Host', args.host];
  const ua = args.headers['user-agent'];
  if (ua !== undefined) fields.push('User-Agent', ua);
  for (const [n, v] of rest) fields.push(n, v);
  return serializeRequestHeadFlat(args.method, args.target, HTTP_1_1, fields);
}

const HTTP_1_1 = Object.freeze({ major: 1, minor: 1 });

/** Sorts fields by canonical name (Go's Header.Write order); a stable sort keeps repeated values in order. */
function byName(a: readonly [string, string], b: readonly [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
