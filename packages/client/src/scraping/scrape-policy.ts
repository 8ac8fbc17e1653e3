import type { ScrapeTarget } from './scrape.js';

/**
 * What a client may scrape (--allow-port, --use-localhost, --scrape.allow,
 * --scrape.methods), resolved once at startup. The checks run after the
 * FQDN check, on the target as it will be scraped (after `_scheme`).
 */

/** Label values of pushprox_client_scrapes_refused_total. */
export const REFUSAL_REASONS = ['port', 'path', 'method'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface Refusal {
  readonly reason: RefusalReason;
  /** Says what was expected and what arrived; pushed as the 403 body and reason phrase. */
  readonly message: string;
}

/** One --scrape.allow entry: `:<port>` optionally followed by a path. */
export interface ScrapePattern {
  readonly port: number;
  /** undefined: any path on the port. Without the trailing `*` when `prefix`. */
  readonly path: string | undefined;
  /** The path ended in `*`: any path starting with `path` matches. */
  readonly prefix: boolean;
  /** As written, for messages. */
  readonly source: string;
}

export interface ScrapePolicy {
  /** undefined: any port (upstream behaviour). */
  readonly allowPorts: readonly number[] | undefined;
  /** Scrape 127.0.0.1 on the requested port instead of the FQDN. */
  readonly useLocalhost: boolean;
  /** undefined: any port and path (subject to allowPorts). */
  readonly allow: readonly ScrapePattern[] | undefined;
  /** Upper-case method names performed; others are refused. */
  readonly methods: readonly string[];
}

export const DEFAULT_SCRAPE_METHODS = 'GET,HEAD';

export const DEFAULT_SCRAPE_POLICY: ScrapePolicy = Object.freeze({
  allowPorts: undefined,
  useLocalhost: false,
  allow: undefined,
  methods: Object.freeze(['GET', 'HEAD']),
});

/** Why --use-localhost needs --allow-port (the rancher fork refuses to start too). */
export const USE_LOCALHOST_NEEDS_ALLOW_PORT =
  '--use-localhost requires --allow-port: scraping 127.0.0.1 on any requested port would expose every local service through the proxy';

function parsePort(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** `9100` or `9100,9796` → ports; throws saying what was expected and what arrived. */
export function parsePortList(value: string): number[] {
  const items = value.split(',').map((s) => s.trim());
  const ports: number[] = [];
  for (const item of items) {
    const port = parsePort(item);
    if (port === undefined) {
      throw new Error(
        `expected a port from 1 to 65535 or a comma-separated list of them (e.g. 9100,9796), got ${JSON.stringify(item)}${items.length > 1 ? ` in ${JSON.stringify(value)}` : ''}`,
      );
    }
    if (!ports.includes(port)) ports.push(port);
  }
  return ports;
}

const PATH_CHARS = /^\/[^\s?#*]*\*?$/;

/** `:9100/metrics,:9796/*` → patterns; throws saying what was expected and what arrived. */
export function parseAllowList(value: string): ScrapePattern[] {
  const items = value.split(',').map((s) => s.trim());
  return items.map((item) => {
    const bad = (why: string): Error =>
      new Error(
        `expected comma-separated patterns :<port>[/path][*] (e.g. :9100/metrics,:9796/*)${why}, got ${JSON.stringify(item)}${items.length > 1 ? ` in ${JSON.stringify(value)}` : ''}`,
      );
    const m = /^:(\d+)(.*)$/.exec(item);
    if (!m) throw bad('');
    const port = parsePort(m[1]!);
    if (port === undefined) throw bad(' with a port from 1 to 65535');
    const rest = m[2]!;
    if (rest === '') return Object.freeze({ port, path: undefined, prefix: false, source: item });
    if (!PATH_CHARS.test(rest)) throw bad(' where the path starts with / and `*` may only end it');
    const prefix = rest.endsWith('*');
    return Object.freeze({ port, path: prefix ? rest.slice(0, -1) : rest, prefix, source: item });
  });
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `GET,HEAD` → upper-case method names; throws saying what was expected and what arrived. */
export function parseMethods(value: string): string[] {
  const items = value.split(',').map((s) => s.trim());
  const methods: string[] = [];
  for (const item of items) {
    if (!TOKEN.test(item)) {
      throw new Error(`expected a comma-separated list of HTTP methods (e.g. GET,HEAD), got ${JSON.stringify(item)} in ${JSON.stringify(value)}`);
    }
    const upper = item.toUpperCase();
    if (!methods.includes(upper)) methods.push(upper);
  }
  return methods;
}

/** Builds the frozen policy; throws (message USE_LOCALHOST_NEEDS_ALLOW_PORT) for --use-localhost without --allow-port. */
export function scrapePolicy(opts: {
  allowPorts?: readonly number[] | undefined;
  useLocalhost?: boolean;
  allow?: readonly ScrapePattern[] | undefined;
  methods?: readonly string[];
}): ScrapePolicy {
  const useLocalhost = opts.useLocalhost ?? false;
  if (useLocalhost && (opts.allowPorts === undefined || opts.allowPorts.length === 0)) {
    throw new Error(USE_LOCALHOST_NEEDS_ALLOW_PORT);
  }
  return Object.freeze({
    allowPorts: opts.allowPorts && Object.freeze([...opts.allowPorts]),
    useLocalhost,
    allow: opts.allow && Object.freeze([...opts.allow]),
    methods: Object.freeze([...(opts.methods ?? DEFAULT_SCRAPE_POLICY.methods)]),
  });
}

const URL_PARTS = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/;

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** `.` or `..` segments, also percent-encoded or behind `\` (which some servers treat as `/`). */
function hasDotSegment(path: string): boolean {
  return [path, safeDecode(path)].some((p) => p.split(/[/\\]/).some((seg) => seg === '.' || seg === '..'));
}

function pathMatches(pattern: ScrapePattern, path: string): boolean {
  if (pattern.path === undefined) return true;
  return pattern.prefix ? path.startsWith(pattern.path) : path === pattern.path;
}

/**
 * Whether `method` on `url` (absolute, after `_scheme`, as ScrapeTarget.url)
 * may be scraped: undefined if so, else why not. Order: method, then
 * --allow-port, then --scrape.allow (port, then path). Paths compare as sent
 * (not decoded); the query is not restricted. Under --scrape.allow a path
 * with dot segments is refused, so `/metrics/*` cannot reach `/admin`.
 */
export function checkTarget(policy: ScrapePolicy, method: string, url: string): Refusal | undefined {
  if (!policy.methods.includes(method)) {
    return { reason: 'method', message: `method ${method} is not allowed (allowed: ${policy.methods.join(', ')})` };
  }
  if (policy.allowPorts === undefined && policy.allow === undefined) return undefined;
  const m = URL_PARTS.exec(url);
  let port: number | undefined;
  if (m) {
    try {
      const u = new URL(`${m[1]}://${m[2]}/`);
      port = u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : u.protocol === 'http:' ? 80 : undefined;
    } catch {
      port = undefined;
    }
  }
  const shownPort = port === undefined ? `of ${JSON.stringify(url)}` : String(port);
  if (policy.allowPorts !== undefined && (port === undefined || !policy.allowPorts.includes(port))) {
    return { reason: 'port', message: `port ${shownPort} is not allowed (allowed: ${policy.allowPorts.join(', ')})` };
  }
  if (policy.allow !== undefined) {
    const onPort = policy.allow.filter((p) => p.port === port);
    if (port === undefined || onPort.length === 0) {
      return {
        reason: 'port',
        message: `port ${shownPort} is not allowed (allowed by --scrape.allow: ${policy.allow.map((p) => p.source).join(', ')})`,
      };
    }
    const path = m![3] === '' ? '/' : m![3]!;
    if (onPort.some((p) => p.path !== undefined) && hasDotSegment(path)) {
      return { reason: 'path', message: `path ${path} on port ${port} is not allowed: it contains dot segments` };
    }
    if (!onPort.some((p) => pathMatches(p, path))) {
      return {
        reason: 'path',
        message: `path ${path} on port ${port} is not allowed (allowed: ${onPort.map((p) => (p.path === undefined ? '*' : p.path + (p.prefix ? '*' : ''))).join(', ')})`,
      };
    }
  }
  return undefined;
}

/**
 * The target moved to 127.0.0.1 on the same (effective) port, keeping scheme,
 * path, query and credentials (--use-localhost). The exporter then sees
 * `Host: 127.0.0.1:<port>`, the URL's own host, never the FQDN.
 */
export function localTarget(target: ScrapeTarget): ScrapeTarget {
  const u = new URL(`${target.origin}/`);
  const port = u.port !== '' ? u.port : u.protocol === 'https:' ? '443' : '80';
  const origin = `${u.protocol}//127.0.0.1:${port}`;
  return { origin, path: target.path, url: origin + target.path, basicAuth: target.basicAuth };
}
