import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientMeta } from '@pushprox/shared';
import type { Clock } from '../routing/clock.js';
import type { FleetHistory } from './history.js';
import { ClientHistory, type Transport } from './client-history.js';
import { BadQueryError, clientJson, parseClientsQuery, queryClients, type ClientView } from './clients-query.js';
import { statusJson, type StatusInfoSources } from './status-info.js';
import { FAVICON_SVG, PAGE_HTML } from './page-html.js';
import { PAGE_SCRIPT } from './page-script.js';
import { PAGE_STYLE } from './page-style.js';

export const PATH_STATUS_PAGE = '/';
export const PATH_STATUS_SCRIPT = '/assets/status.js';
export const PATH_STATUS_STYLE = '/assets/status.css';
export const PATH_STATUS_ICON = '/assets/favicon.svg';
export const PATH_API_CLIENTS = '/api/v1/clients';
export const PATH_API_CLIENT = '/api/v1/client';
export const PATH_API_STATUS = '/api/v1/status';

/**
 * Every answer of the status page and API. The CSP allows scripts and styles
 * from this origin only (no inline script, no eval), fetches to this origin
 * only, and no framing; the page builds its DOM with textContent, so a
 * client-controlled string (FQDN, label, error reason, version) is never markup.
 */
export const STATUS_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
});

/** A client another proxy holds, as presence describes it (the cluster's RemoteClient). */
export interface RemoteRow {
  readonly name: string;
  readonly proxy: string;
  readonly proxyName: string;
  readonly direct: boolean;
  readonly meta: ClientMeta;
  readonly transport: Transport | undefined;
  readonly since: number;
  readonly seenAt: number;
}

/** The rest of the fleet (--cluster.nats-url): this proxy's name and the clients the others hold. */
export interface FleetSource {
  readonly selfName: () => string;
  readonly remote: () => readonly RemoteRow[];
}

export interface StatusRoutesOptions {
  readonly clock: Clock;
  readonly history: FleetHistory;
  readonly clientMeta: (fqdn: string) => ClientMeta;
  readonly info: StatusInfoSources;
  /** Default: none (unclustered: every row is local). */
  readonly fleet?: FleetSource;
}

/** A row for a client held elsewhere: what presence gives, no scrape history (its scrapes are recorded where it is held). */
function remoteView(r: RemoteRow): ClientView {
  const h = new ClientHistory(r.name, r.since, r.transport ?? 'upstream');
  if (Number.isFinite(r.seenAt)) h.lastPollAt = r.seenAt;
  return {
    history: h,
    meta: r.meta,
    waitingPolls: 0,
    local: false,
    heldBy: r.direct ? 'NATS' : r.proxyName || r.proxy,
    ...((r.direct || r.transport === undefined) && { transport: r.direct ? 'nats' : 'unknown' }),
  };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { ...STATUS_HEADERS, 'Content-Type': type, 'Content-Length': bytes.length });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

function json(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  send(req, res, status, 'application/json', `${JSON.stringify(body)}\n`);
}

/** Prometheus' API error shape. */
function apiError(req: IncomingMessage, res: ServerResponse, status: number, errorType: string, error: string): void {
  json(req, res, status, { status: 'error', errorType, error });
}

/** GET and HEAD only, as the data is read-only. */
function readOnly(handler: (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => void): Handler {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...STATUS_HEADERS, Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`expected GET or HEAD, got ${req.method}\n`);
      return;
    }
    const q = req.url!.indexOf('?');
    handler(req, res, new URLSearchParams(q < 0 ? '' : req.url!.slice(q + 1)));
  };
}

/** The page, its assets and the JSON API, by exact path. */
export function createStatusRoutes(opts: StatusRoutesOptions): ReadonlyMap<string, Handler> {
  const { history, clock } = opts;
  const { fleet } = opts;
  const view = (h: ReturnType<FleetHistory['all']>[number]): ClientView => ({
    history: h,
    meta: opts.clientMeta(h.name),
    waitingPolls: opts.info.waitingPollsOf(h.name),
    local: true,
    heldBy: fleet?.selfName() ?? '',
  });
  /** Local rows, then a row for each client held only elsewhere (a client held here too is shown as local). */
  const views = (): ClientView[] => {
    const local = history.all().map(view);
    if (!fleet) return local;
    const here = new Set(local.map((v) => v.history.name.toLowerCase()));
    for (const r of fleet.remote()) if (!here.has(r.name.toLowerCase())) local.push(remoteView(r));
    return local;
  };
  const html = Buffer.from(PAGE_HTML);
  const script = Buffer.from(PAGE_SCRIPT);
  const style = Buffer.from(PAGE_STYLE);
  const icon = Buffer.from(FAVICON_SVG);
  return new Map<string, Handler>([
    [PATH_STATUS_PAGE, readOnly((req, res) => send(req, res, 200, 'text/html; charset=utf-8', html))],
    [PATH_STATUS_SCRIPT, readOnly((req, res) => send(req, res, 200, 'text/javascript; charset=utf-8', script))],
    [PATH_STATUS_STYLE, readOnly((req, res) => send(req, res, 200, 'text/css; charset=utf-8', style))],
    [PATH_STATUS_ICON, readOnly((req, res) => send(req, res, 200, 'image/svg+xml', icon))],
    [
      PATH_API_CLIENTS,
      readOnly((req, res, p) => {
        let query;
        try {
          query = parseClientsQuery(p);
        } catch (err) {
          if (err instanceof BadQueryError) return apiError(req, res, 400, 'bad_data', err.message);
          throw err;
        }
        const now = clock.now();
        json(req, res, 200, { status: 'success', data: queryClients(views(), query, now) });
      }),
    ],
    [
      PATH_API_CLIENT,
      readOnly((req, res, p) => {
        const fqdn = p.get('fqdn');
        if (!fqdn) return apiError(req, res, 400, 'bad_data', 'missing parameter "fqdn": expected the FQDN of a registered client');
        const h = history.get(fqdn);
        const key = fqdn.toLowerCase();
        const remote = h ? undefined : fleet?.remote().find((r) => r.name.toLowerCase() === key);
        if (!h && !remote) return apiError(req, res, 404, 'not_found', `no registered client ${JSON.stringify(fqdn.slice(0, 256))}`);
        json(req, res, 200, { status: 'success', data: clientJson(h ? view(h) : remoteView(remote!), clock.now(), true) });
      }),
    ],
    [PATH_API_STATUS, readOnly((req, res) => json(req, res, 200, { status: 'success', data: statusJson(opts.info, clock.now()) }))],
  ]);
}
