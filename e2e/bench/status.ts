import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { HEADER_HELLO, HEADER_POLL_CAPACITY } from '@pushprox/shared';
import { ClientHistory, HISTORY_LENGTH, parseClientsQuery, queryClients, type ClientView } from '@pushprox/proxy';
import { EMPTY_CLIENT_META } from '@pushprox/shared';
import { startProxyProc } from '../src/procs.js';
import { median } from './stats.js';

/**
 * Scenario `status` (issue #27): what the status page's per-client history
 * costs, and how fast its API answers with 10,000 registered clients.
 *
 * Memory: 10,000 ClientHistory objects in this process, measured as the heap
 * growth after a full collection, idle (no scrape yet), with a full ring of
 * successful scrapes, and with a full ring where one scrape in four failed
 * with a 120-character reason (a flat string, as the relayed body's start is).
 *
 * Latency: a real proxy process; 10,000 FQDNs registered by real hello polls
 * over loopback; the median of 21 requests of each endpoint, with upstream's
 * /clients (which sorts the same 10,000 names) as the baseline of the same run.
 * Those clients were never scraped; what a full history adds to a query is
 * timed in this process: the handler's work (filter, sort, one page as JSON)
 * over 10,000 clients with full rings, one in ten failing.
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  // Typed arrays' backing stores are outside the JS heap (external).
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

function historyBytesPerClient(n: number, fill: 'idle' | 'ok' | 'quarter-failed'): number {
  const before = heapAfterGc();
  const all: ClientHistory[] = [];
  for (let i = 0; i < n; i++) {
    const h = new ClientHistory(`host-${String(i).padStart(5, '0')}.fleet.example`, i, 'channel');
    if (fill !== 'idle') {
      for (let k = 0; k < HISTORY_LENGTH; k++) {
        const failed = fill === 'quarter-failed' && k % 4 === 0;
        h.record({ at: 1e12 + k * 15_000, durationMs: 12.5 + k, status: failed ? 503 : 200, bytes: 40_000 + k, ...(failed && { error: Buffer.from(`collector ${i}/${k} failed: `.padEnd(120, 'x')).toString() }) });
      }
    }
    all.push(h);
  }
  const after = heapAfterGc();
  if (all.length !== n) throw new Error('unreachable');
  // The names are the registry's anyway; counted here too, so this is an upper bound.
  return (after - before) / n;
}

function fullHistoryQueryMs(n: number, query: string): number {
  const views: ClientView[] = [];
  for (let i = 0; i < n; i++) {
    const h = new ClientHistory(`host-${String(i).padStart(5, '0')}.fleet.example`, 0, 'channel');
    const now = Date.now();
    for (let k = 0; k < HISTORY_LENGTH; k++) {
      const failed = i % 10 === 0 && k === HISTORY_LENGTH - 1;
      h.record({ at: now - (HISTORY_LENGTH - k) * 5_000, durationMs: 5 + ((i * 7 + k * 13) % 50), status: failed ? 503 : 200, bytes: 40_000, ...(failed && { error: 'collector failed' }) });
    }
    views.push({ history: h, meta: EMPTY_CLIENT_META, waitingPolls: 1, local: true, heldBy: '' });
  }
  const q = parseClientsQuery(new URLSearchParams(query));
  const ms: number[] = [];
  for (let i = 0; i < 21; i++) {
    const s = performance.now();
    JSON.stringify(queryClients(views, q, Date.now()));
    ms.push(performance.now() - s);
  }
  return median(ms);
}

async function latencyMs(url: string, times = 21): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const s = performance.now();
    const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
    ms.push(performance.now() - s);
  }
  return median(ms);
}

export async function statusScenario(n = 10_000): Promise<Record<string, unknown>> {
  const memory = {
    idle: historyBytesPerClient(n, 'idle'),
    ok: historyBytesPerClient(n, 'ok'),
    quarterFailed: historyBytesPerClient(n, 'quarter-failed'),
  };
  const handler = {
    page: fullHistoryQueryMs(n, 'limit=100'),
    failing: fullHistoryQueryMs(n, 'limit=100&failing=true'),
    sortP99: fullHistoryQueryMs(n, 'limit=100&sort=p99&order=desc'),
    sortErrors: fullHistoryQueryMs(n, 'limit=100&sort=errors&order=desc'),
  };
  const proxy = await startProxyProc();
  const pool = new Pool(proxy.url, { connections: 16 });
  try {
    let next = 0;
    const deadline = performance.now() + 120_000;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < n && performance.now() < deadline) {
          const res = await pool.request({
            method: 'POST',
            path: '/poll',
            body: `host-${String(next++).padStart(5, '0')}.fleet.example`,
            headers: { [HEADER_POLL_CAPACITY]: '1', [HEADER_HELLO]: '1' },
          });
          await res.body.dump();
        }
      }),
    );
    if (next < n) throw new Error(`registered only ${next} of ${n} clients within 120 s`);
    const baseline = await latencyMs(`${proxy.url}/clients`);
    const page = await latencyMs(`${proxy.url}/api/v1/clients?limit=100`);
    const search = await latencyMs(`${proxy.url}/api/v1/clients?limit=100&search=host-09999`);
    const sorted = await latencyMs(`${proxy.url}/api/v1/clients?limit=100&sort=p99&order=desc`);
    const status = await latencyMs(`${proxy.url}/api/v1/status`);
    const row = {
      scenario: `status: ${n} registered clients`,
      history_bytes_per_client: { idle: Math.round(memory.idle), full_ring_ok: Math.round(memory.ok), full_ring_quarter_failed: Math.round(memory.quarterFailed) },
      median_ms: { clients_baseline: baseline, api_clients_page: page, api_clients_search: search, api_clients_sort_p99: sorted, api_status: status },
      full_history_handler_ms: { page: handler.page, failing: handler.failing, sort_p99: handler.sortP99, sort_errors: handler.sortErrors },
      ratio_to_clients: { api_clients_page: page / baseline, api_clients_search: search / baseline, api_status: status / baseline },
    };
    console.log(`JSON ${JSON.stringify(row)}`);
    return row;
  } finally {
    await pool.close();
    await proxy.stop();
  }
}
