import http from 'node:http';
import https from 'node:https';
import { gunzipSync } from 'node:zlib';
import { DEMO_BODY } from '../src/exporter.js';
import type { ProxyEnd, Topology } from './topology.js';
import { Samples, sleep, Tally } from './tally.js';

/** Prometheus' scrape timeout the soak sends (X-Prometheus-Scrape-Timeout-Seconds). */
export const SCRAPE_TIMEOUT_S = 10;
/** Body of the ordinary large scrape, below MAX_BODY_BYTES. */
export const LARGE_BYTES = 8 * 1024 * 1024;
/** Largest body buffered to check it; larger ones are only counted. */
const BUFFER_LIMIT = 4 * 1024 * 1024;

/** One ordinary target: what Prometheus would scrape through a proxy, and what a good answer is. */
export interface Target {
  readonly kind: 'node_exporter' | 'e2e exporter' | 'large';
  readonly proxy: ProxyEnd;
  readonly transport: string;
  /** Absolute-form request target: http://<fqdn>:<port>/path */
  readonly url: string;
  /** undefined: the answer is good when this returns nothing, else the reason. */
  check(body: Buffer | undefined, bytes: number): string | undefined;
}

export function ordinaryTargets(t: Topology): Target[] {
  const out: Target[] = [];
  for (const c of t.clients) {
    const at = { proxy: c.proxy, transport: c.transport };
    out.push({
      kind: 'e2e exporter',
      ...at,
      url: `http://${c.fqdn}:${t.exporterPort}/metrics`,
      check: (b) => (b?.toString() === DEMO_BODY ? undefined : `wrong body (${b?.length} bytes, expected the ${DEMO_BODY.length}-byte demo body)`),
    });
    if (t.nodeExporterPort) {
      out.push({
        kind: 'node_exporter',
        ...at,
        url: `http://${c.fqdn}:${t.nodeExporterPort}/metrics`,
        check: (b) => (b?.includes('node_exporter_build_info') ? undefined : `body without node_exporter_build_info (${b?.length} bytes)`),
      });
    }
  }
  return out;
}

/** One large-body target per client (8 MB from the e2e exporter's /big). */
export function largeTargets(t: Topology): Target[] {
  return t.clients.map((c) => ({
    kind: 'large' as const,
    proxy: c.proxy,
    transport: c.transport,
    url: `http://${c.fqdn}:${t.exporterPort}/big?bytes=${LARGE_BYTES}`,
    check: (_b: Buffer | undefined, bytes: number) => (bytes === LARGE_BYTES ? undefined : `short body: ${bytes} of ${LARGE_BYTES} bytes`),
  }));
}

export interface ScrapeOptions {
  /** Keep-alive agent (as Prometheus keeps one connection per target); undefined: a new connection. */
  readonly agent?: http.Agent | undefined;
  /** Proxy-Authorization to send instead of the proxy's own; for wrong-password scrapes. */
  readonly basic?: string | undefined;
  /** Called with each body chunk; may destroy the request (a scraper hanging up). */
  readonly onChunk?: ((bytes: number, req: http.ClientRequest) => void) | undefined;
}

/** A scrape as Prometheus sends it through `proxy`; resolves with the status and body, never rejects. */
export function scrapeOnce(
  proxy: ProxyEnd,
  url: string,
  o: ScrapeOptions = {},
): Promise<{ status: number; body: Buffer | undefined; bytes: number; error?: string }> {
  return new Promise((resolve) => {
    const basic = o.basic ?? proxy.basic;
    const headers: Record<string, string> = { 'X-Prometheus-Scrape-Timeout-Seconds': String(SCRAPE_TIMEOUT_S), 'Accept-Encoding': 'gzip' };
    if (basic) headers['Proxy-Authorization'] = basic;
    const opts = { host: '127.0.0.1', port: proxy.port, path: url, headers, agent: o.agent ?? false };
    let settled = false;
    const chunks: Buffer[] = [];
    let bytes = 0;
    let status = 0;
    const done = (error?: string): void => {
      if (settled) return;
      settled = true;
      resolve({ status, body: bytes <= BUFFER_LIMIT ? Buffer.concat(chunks) : undefined, bytes, ...(error !== undefined && { error }) });
    };
    const onRes = (res: http.IncomingMessage): void => {
      status = res.statusCode ?? 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes <= BUFFER_LIMIT) chunks.push(c);
        else chunks.length = 0;
        o.onChunk?.(bytes, req);
      });
      res.on('error', (e) => done(`response error: ${e.message}`));
      res.on('aborted', () => done('response aborted'));
      res.on('end', () => {
        if (res.headers['content-encoding'] === 'gzip' && bytes <= BUFFER_LIMIT) {
          try {
            const plain = gunzipSync(Buffer.concat(chunks));
            chunks.length = 0;
            chunks.push(plain);
          } catch (e) {
            return done(`bad gzip: ${(e as Error).message}`);
          }
        }
        done();
      });
    };
    const req = proxy.ca ? https.request({ ...opts, ca: proxy.ca }, onRes) : http.request(opts, onRes);
    req.setTimeout((SCRAPE_TIMEOUT_S + 5) * 1000, () => req.destroy(new Error(`no reply within ${SCRAPE_TIMEOUT_S + 5} s`)));
    req.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    req.on('close', () => done('closed before the end of the reply'));
    req.end();
  });
}

/** Outcomes of the ordinary scrapes, by target kind. */
export class OrdinaryResults {
  readonly ok = new Map<string, number>();
  readonly failed = new Map<string, number>();
  readonly failures = new Tally();
  readonly latencyMs = new Samples();
  readonly largeLatencyMs = new Samples();

  record(t: Target, ms: number, failure: string | undefined): void {
    const key = `${t.kind} via ${t.proxy.name}/${t.transport}`;
    if (failure === undefined) {
      this.ok.set(key, (this.ok.get(key) ?? 0) + 1);
      (t.kind === 'large' ? this.largeLatencyMs : this.latencyMs).add(ms);
    } else {
      this.failed.set(key, (this.failed.get(key) ?? 0) + 1);
      this.failures.add(`${t.kind} via ${t.proxy.name}: ${failure}`);
    }
  }
}

/** Scrapes `target` and records the outcome. */
export async function scrapeAndRecord(t: Target, results: OrdinaryResults, agent: http.Agent | undefined): Promise<boolean> {
  const t0 = performance.now();
  const r = await scrapeOnce(t.proxy, t.url, { agent });
  const failure = r.error ?? (r.status !== 200 ? `status ${r.status}: ${r.body?.toString().slice(0, 120).trim()}` : t.check(r.body, r.bytes));
  results.record(t, performance.now() - t0, failure);
  return failure === undefined;
}

/**
 * Scrapes every target once per `intervalMs` (each on its own staggered
 * schedule, one keep-alive connection per target as Prometheus keeps) until
 * `until` or `signal`; bounded by the count that fits in the time.
 */
export async function scrapeLoop(targets: readonly Target[], intervalMs: number, until: number, results: OrdinaryResults, signal: AbortSignal): Promise<void> {
  const maxRounds = Math.ceil((until - Date.now()) / intervalMs) + 1;
  await Promise.all(
    targets.map(async (t, i) => {
      const agent = new (t.proxy.ca ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: 1 });
      await sleep((intervalMs * i) / targets.length, signal);
      for (let n = 0; n < maxRounds && Date.now() < until && !signal.aborted; n++) {
        const next = Date.now() + intervalMs;
        await scrapeAndRecord(t, results, agent);
        await sleep(Math.max(0, Math.min(next, until) - Date.now()), signal);
      }
      agent.destroy();
    }),
  );
}
