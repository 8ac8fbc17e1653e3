import type { ClientMeta } from '@pushprox/shared';
import { HISTORY_LENGTH, isFailure, type ClientHistory, type ScrapeResult } from './client-history.js';

/**
 * `/api/v1/clients`: the fleet table, filtered, sorted and paginated on the
 * proxy so that a page of 10,000 clients costs the browser one page of rows.
 * Field names follow Prometheus' `/api/v1/targets` where one exists
 * (health, lastError, lastScrape, lastScrapeDuration).
 */

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
export const SORT_KEYS = ['fqdn', 'since', 'lastScrape', 'errors', 'p99'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface ClientsQuery {
  /** Case-insensitive substring of the FQDN, a label value, a module name or the version. */
  readonly search: string;
  /** Only clients whose last scrape failed. */
  readonly failing: boolean;
  /** Only clients with no scrape in the last 5 minutes. */
  readonly idle: boolean;
  /** `name` (label present) or `name=value` (exact value). */
  readonly label: { readonly name: string; readonly value: string | undefined } | undefined;
  /** Clustered: `local` (held here), `remote` (held by another proxy or on NATS directly), a proxy's name, or '' (all). */
  readonly heldBy: string;
  readonly sort: SortKey;
  readonly desc: boolean;
  readonly offset: number;
  readonly limit: number;
}

export class BadQueryError extends Error {}

const MAX_SEARCH_CHARS = 256;

function intParam(p: URLSearchParams, name: string, dflt: number, max: number): number {
  const raw = p.get(name);
  if (raw === null || raw === '') return dflt;
  if (!/^\d{1,9}$/.test(raw)) throw new BadQueryError(`invalid parameter ${JSON.stringify(name)}: expected a whole number, got ${JSON.stringify(raw.slice(0, 32))}`);
  return Math.min(Number(raw), max);
}

function boolParam(p: URLSearchParams, name: string): boolean {
  const raw = p.get(name);
  if (raw === null || raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  throw new BadQueryError(`invalid parameter ${JSON.stringify(name)}: expected true or false, got ${JSON.stringify(raw.slice(0, 32))}`);
}

export function parseClientsQuery(p: URLSearchParams): ClientsQuery {
  const search = (p.get('search') ?? '').slice(0, MAX_SEARCH_CHARS).toLowerCase();
  const sortRaw = p.get('sort') || 'fqdn';
  if (!(SORT_KEYS as readonly string[]).includes(sortRaw)) {
    throw new BadQueryError(`invalid parameter "sort": expected one of ${SORT_KEYS.join(', ')}, got ${JSON.stringify(sortRaw.slice(0, 32))}`);
  }
  const order = p.get('order') || 'asc';
  if (order !== 'asc' && order !== 'desc') throw new BadQueryError(`invalid parameter "order": expected asc or desc, got ${JSON.stringify(order.slice(0, 32))}`);
  const labelRaw = (p.get('label') ?? '').slice(0, MAX_SEARCH_CHARS);
  const eq = labelRaw.indexOf('=');
  const label = labelRaw === '' ? undefined : eq < 0 ? { name: labelRaw, value: undefined } : { name: labelRaw.slice(0, eq), value: labelRaw.slice(eq + 1) };
  return {
    search,
    failing: boolParam(p, 'failing'),
    idle: boolParam(p, 'idle'),
    label,
    heldBy: (p.get('heldBy') ?? '').slice(0, MAX_SEARCH_CHARS),
    sort: sortRaw as SortKey,
    desc: order === 'desc',
    offset: intParam(p, 'offset', 0, 1e9),
    limit: intParam(p, 'limit', DEFAULT_LIMIT, MAX_LIMIT) || DEFAULT_LIMIT,
  };
}

export interface ClientView {
  readonly history: ClientHistory;
  readonly meta: ClientMeta;
  /** Polls waiting now (here; 0 for a client held elsewhere). */
  readonly waitingPolls: number;
  /** Whether this proxy holds it (else presence describes it, and it has no scrape history here). */
  readonly local: boolean;
  /** The name of the proxy holding it ('' unclustered), or `NATS` for a client on NATS directly. */
  readonly heldBy: string;
  /** Replaces history.transport when presence did not say (`unknown`) or the client is on NATS directly (`nats`). */
  readonly transport?: string;
}

const seconds = (ms: number | undefined): number | null => (ms === undefined ? null : ms / 1000);
const iso = (ms: number): string => new Date(ms).toISOString();

export function scrapeJson(r: ScrapeResult) {
  return { at: iso(r.at), status: r.status, durationSeconds: r.durationMs / 1000, bytes: r.bytes, error: r.error ?? '' };
}

/** One row of the fleet table, as JSON. */
export function clientJson(v: ClientView, now: number, withHistory = false) {
  const h = v.history;
  const last = h.last();
  const s = h.summary(now);
  return {
    fqdn: h.name,
    labels: v.meta.labels,
    modules: v.meta.modules,
    version: v.meta.version ?? '',
    transport: v.transport ?? h.transport,
    heldBy: v.heldBy,
    local: v.local,
    waitingPolls: v.waitingPolls,
    since: iso(h.since),
    lastPoll: iso(h.lastPollAt),
    health: last === undefined ? 'unknown' : isFailure(last) ? 'down' : 'up',
    lastError: last?.error ?? '',
    lastScrape: last ? iso(last.at) : null,
    lastScrapeDuration: last ? last.durationMs / 1000 : null,
    lastScrapeStatus: last?.status ?? null,
    lastScrapeBytes: last?.bytes ?? null,
    scrapes5m: s.scrapes,
    errors5m: s.errors,
    p50Seconds: seconds(s.p50Ms),
    p99Seconds: seconds(s.p99Ms),
    ...(withHistory && { history: h.recent(HISTORY_LENGTH).map(scrapeJson) }),
  };
}

function matches(v: ClientView, q: ClientsQuery, now: number): boolean {
  const h = v.history;
  if (q.failing) {
    const last = h.last();
    if (!last || !isFailure(last)) return false;
  }
  if (q.idle && h.counts(now).scrapes > 0) return false;
  if (q.heldBy !== '' && (q.heldBy === 'local' ? !v.local : q.heldBy === 'remote' ? v.local : v.heldBy !== q.heldBy)) return false;
  if (q.label) {
    const value = v.meta.labels[q.label.name];
    if (value === undefined || (q.label.value !== undefined && value !== q.label.value)) return false;
  }
  if (q.search === '') return true;
  if (h.name.toLowerCase().includes(q.search)) return true;
  if (v.meta.version?.toLowerCase().includes(q.search)) return true;
  if (v.heldBy.toLowerCase().includes(q.search)) return true;
  for (const value of Object.values(v.meta.labels)) if (value.toLowerCase().includes(q.search)) return true;
  return v.meta.modules.some((m) => m.name.toLowerCase().includes(q.search));
}

function sortValue(v: ClientView, key: SortKey, now: number): number | string {
  const h = v.history;
  switch (key) {
    case 'fqdn':
      return h.name.toLowerCase();
    case 'since':
      return h.since;
    case 'lastScrape':
      return h.last()?.at ?? -1;
    case 'errors':
      return h.counts(now).errors;
    case 'p99':
      return h.p99(now) ?? -1;
  }
}

export function queryClients(all: readonly ClientView[], q: ClientsQuery, now: number) {
  const matched = all.filter((v) => matches(v, q, now));
  const keyed = matched.map((v) => ({ v, k: sortValue(v, q.sort, now), n: v.history.name.toLowerCase() }));
  const dir = q.desc ? -1 : 1;
  keyed.sort((a, b) => (a.k < b.k ? -dir : a.k > b.k ? dir : a.n < b.n ? -1 : a.n > b.n ? 1 : 0));
  const page = keyed.slice(q.offset, q.offset + q.limit).map(({ v }) => clientJson(v, now));
  return { total: all.length, matched: matched.length, offset: q.offset, limit: q.limit, clients: page };
}
