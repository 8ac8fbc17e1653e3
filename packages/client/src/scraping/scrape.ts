import type { Dispatcher } from 'undici';
import type { AbortToken } from './abort-token.js';
import { writableRequest, type PlainHttp } from '../exporter-http/plain-http.js';
import { CLOSED_BEFORE_ANSWER } from '../exporter-http/plain-conn.js';
import type { RelayedResponse } from '../exporter-http/response.js';
import {
  BoundedMemo,
  ERROR_CODES,
  HEADER_ID,
  HEADER_SCRAPE_TIMEOUT,
  HOP_BY_HOP_HEADERS,
  PARAM_SCHEME,
  PushProxError,
  type RequestHead,
  type WireHeaders,
} from '@pushprox/shared';

/** Upstream's text; the proxy relays it to Prometheus as the scrape error. */
export const FQDN_MISMATCH_MESSAGE = "scrape target doesn't match client fqdn";

/** Where one scrape goes, split the way undici's dispatcher wants it. */
export interface ScrapeTarget {
  /** `scheme://host[:port]`, without userinfo. */
  readonly origin: string;
  /** Origin-form path and query, as received except for a removed `_scheme`. */
  readonly path: string;
  /** origin + path: the URL named in logs and error texts. */
  readonly url: string;
  /** `user:pass` from the target's userinfo, decoded, if there was one. */
  readonly basicAuth: string | undefined;
}

const ABSOLUTE_FORM = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^#]*)/;

/**
 * `_scheme=https` in the query makes the scrape go over https, as upstream
 * (the proxy only sees plain-http absolute-form requests). Like Go's
 * `Query().Get`, the first `_scheme` decides; then every `_scheme` pair is
 * removed and the other pairs are kept byte for byte, in order.
 */
export function applySchemeParam(scheme: string, query: string): { scheme: string; query: string } {
  if (query === '') return { scheme, query };
  const pairs = query.split('&');
  const keyOf = (pair: string): string => {
    const raw = pair.split('=', 1)[0]!.replace(/\+/g, ' ');
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  };
  const valueOf = (pair: string): string => {
    const eq = pair.indexOf('=');
    const raw = eq < 0 ? '' : pair.slice(eq + 1).replace(/\+/g, ' ');
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  };
  const first = pairs.find((p) => p !== '' && keyOf(p) === PARAM_SCHEME);
  if (first === undefined || valueOf(first) !== 'https') return { scheme, query };
  return { scheme: 'https', query: pairs.filter((p) => keyOf(p) !== PARAM_SCHEME).join('&') };
}

/**
 * The URL to scrape for a request target from the proxy. Throws
 * CLIENT_FQDN_MISMATCH (upstream's text) unless the target is absolute-form
 * and its host name equals `fqdn` (DNS names compare case-insensitively;
 * IPv6 literals without brackets, like Go's URL.Hostname).
 */
export function scrapeTarget(target: string, fqdn: string): ScrapeTarget {
  // Prometheus asks for the same target on every scrape: parse it once. Only valid targets are kept.
  return TARGETS.get(`${fqdn} ${target}`, () => parseScrapeTarget(target, fqdn));
}

/** Targets already parsed, by FQDN and request target; at most 256 keys of 2048 chars (see BoundedMemo). */
const TARGETS = new BoundedMemo<ScrapeTarget>(256, 2048);

function parseScrapeTarget(target: string, fqdn: string): ScrapeTarget {
  const m = ABSOLUTE_FORM.exec(target);
  if (!m) {
    throw new PushProxError(
      ERROR_CODES.CLIENT_FQDN_MISMATCH,
      `${FQDN_MISMATCH_MESSAGE}: expected an absolute URL with host ${fqdn}, got request target ${JSON.stringify(target)}`,
    );
  }
  const [, rawScheme = '', authority = '', rest = ''] = m;
  const qAt = rest.indexOf('?');
  const pathPart = qAt < 0 ? rest : rest.slice(0, qAt);
  const { scheme, query } = applySchemeParam(rawScheme.toLowerCase(), qAt < 0 ? '' : rest.slice(qAt + 1));
  let parsed: URL;
  try {
    parsed = new URL(`${scheme === 'https' ? 'https' : 'http'}://${authority}/`);
  } catch {
    throw new PushProxError(ERROR_CODES.CLIENT_FQDN_MISMATCH, `${FQDN_MISMATCH_MESSAGE}: cannot parse host ${JSON.stringify(authority)}`);
  }
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (hostname.toLowerCase() !== fqdn.toLowerCase()) {
    throw new PushProxError(ERROR_CODES.CLIENT_FQDN_MISMATCH, FQDN_MISMATCH_MESSAGE);
  }
  if (scheme !== 'http' && scheme !== 'https') {
    throw new PushProxError(ERROR_CODES.CLIENT_SCRAPE_FAILED, `unsupported protocol scheme ${JSON.stringify(scheme)}`);
  }
  const origin = `${scheme}://${parsed.host}`;
  const path = `${pathPart === '' ? '/' : pathPart}${query === '' ? '' : `?${query}`}`;
  const basicAuth =
    parsed.username !== '' || parsed.password !== ''
      ? `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`
      : undefined;
  return { origin, path, url: origin + path, basicAuth };
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The scrape timeout in ms from `X-Prometheus-Scrape-Timeout-Seconds`, or undefined if absent, unparsable or not positive. */
export function parseScrapeTimeout(headers: WireHeaders): number | undefined {
  const value = headers.get(HEADER_SCRAPE_TIMEOUT)?.trim();
  if (value === undefined || !DECIMAL.test(value)) return undefined;
  const ms = Number(value) * 1000;
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/**
 * Headers never sent to the exporter besides the hop-by-hop ones: `Host`
 * (undici writes it from the origin), `Id` (ours), `Content-Length` (undici
 * computes it from the body) and `Expect` (undici refuses it).
 */
const NOT_FORWARDED: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP_HEADERS,
  'host',
  HEADER_ID.toLowerCase(),
  'content-length',
  'expect',
]);

/**
 * Request headers for the exporter, flat `[name, value, …]` so spelling and
 * order survive. The request's own Authorization (Prometheus' authorization
 * for the target) always wins; else `authorization` (--token-path); else the
 * target's userinfo as Basic — like Go, which uses userinfo only when no
 * Authorization header is set.
 */
export function forwardedHeaders(headers: WireHeaders, basicAuth?: string, authorization?: string): string[] {
  // Fields named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1). A scrape
  // from our proxy carries none, so the usual path builds no set and no closures.
  const connection = headers.getAll('connection');
  const named = connection.length === 0 ? undefined : connectionTokens(connection);
  const flat = headers.toRawArray();
  const out: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const lower = flat[i]!.toLowerCase();
    if (!NOT_FORWARDED.has(lower) && !named?.has(lower)) out.push(flat[i]!, flat[i + 1]!);
  }
  if (!headers.has('authorization')) {
    if (authorization !== undefined) out.push('Authorization', authorization);
    else if (basicAuth !== undefined) out.push('Authorization', `Basic ${Buffer.from(basicAuth).toString('base64')}`);
  }
  return out;
}

function connectionTokens(values: readonly string[]): Set<string> {
  const named = new Set<string>();
  for (const v of values) {
    for (const t of v.split(',')) {
      const token = t.trim().toLowerCase();
      if (token !== '') named.add(token);
    }
  }
  return named;
}

/**
 * Sends the scrape. A GET or HEAD without a body to a plain-http target goes
 * through `plain` when given (the client gives it when no forward proxy is
 * set: plain-http.ts), unless its path or a field could not be written
 * safely; everything else through `dispatcher`. undici's `request` (not
 * fetch) never decodes bodies, so with `Accept-Encoding: gzip` forwarded the
 * gzip bytes pass through; raw response headers keep the exporter's spelling
 * and order. Time limits come only from `signal`. `authorization`: see
 * forwardedHeaders.
 */
export async function sendScrape(
  dispatcher: Dispatcher,
  target: ScrapeTarget,
  head: RequestHead,
  body: Buffer,
  signal: AbortToken,
  authorization?: string,
  plain?: PlainHttp,
): Promise<RelayedResponse> {
  const headers = forwardedHeaders(head.headers, target.basicAuth, authorization);
  if (plain !== undefined && body.length === 0 && (head.method === 'GET' || head.method === 'HEAD') && target.origin.startsWith('http://')) {
    const endpoint = plainEndpoint(target.origin);
    const request = { ...endpoint, method: head.method, path: target.path, headers, signal } as const;
    const wire = writableRequest(request);
    if (wire !== undefined) return plain.request(request, wire);
  }
  const options: Dispatcher.RequestOptions = {
    origin: target.origin,
    path: target.path,
    method: head.method as Dispatcher.HttpMethod,
    headers,
    body: body.length > 0 ? body : null,
    signal,
    responseHeaders: 'raw',
    headersTimeout: 0,
    bodyTimeout: 0,
  };
  try {
    return toRelayed(await dispatcher.request(options));
  } catch (err) {
    // An exporter may close an idle kept-alive connection just as it is reused: the request
    // then fails before any answer. Go's client retries an idempotent request once in that
    // case; so do we, on a new connection (undici drops the closed one).
    if (!retriable(err, options, signal)) throw err;
    return toRelayed(await dispatcher.request(options));
  }
}

function toRelayed(res: Dispatcher.ResponseData): RelayedResponse {
  return { statusCode: res.statusCode, statusText: res.statusText, headers: res.headers, body: res.body };
}

/** Host, port and Host field of a plain-http origin, parsed once per origin. */
function plainEndpoint(origin: string): { host: string; port: number; hostHeader: string } {
  return ENDPOINTS.get(origin, () => {
    const u = new URL(origin);
    return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port === '' ? 80 : Number(u.port), hostHeader: u.host };
  });
}

const ENDPOINTS = new BoundedMemo<{ host: string; port: number; hostHeader: string }>(256, 2048);

/** A connection error before any response (CLOSED_BEFORE_ANSWER): a bodiless GET or HEAD is sent again once. */
function retriable(err: unknown, options: Dispatcher.RequestOptions, signal: AbortToken): boolean {
  if (signal.aborted || options.body !== null || (options.method !== 'GET' && options.method !== 'HEAD')) return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && CLOSED_BEFORE_ANSWER.has(code);
}

/** A readable reason for a failed undici call (AggregateError from dual-stack connects has an empty message). */
export function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.message === '') {
    return err.errors.map(describeError).join('; ');
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return err.message !== '' ? err.message : typeof code === 'string' ? code : err.name;
  }
  return String(err);
}
