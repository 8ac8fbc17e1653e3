import http from 'node:http';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { freePort, waitListening } from '../src/ports.js';
import { Proc, startClientProc, startProxyProc } from '../src/procs.js';
import { waitRegistered } from '../src/proxy-api.js';
import { benchExporter } from './bench-exporter.js';
import { summarize } from './stats.js';
import { cpuSplitOf, cpuSplitOfAll, cpuTotal } from './procstat.js';

/**
 * Scrapes at real rates (issue #30): every target scraped once per
 * `intervalMs` (2 s or 15 s, as Prometheus), its scrapes spread over the
 * interval as Prometheus spreads targets, each target on a keep-alive
 * connection of its own that sits idle between scrapes. Unlike the hot loops
 * of (i)-(iii) every process does little work and its per-scrape path runs
 * cold. The direct baseline scrapes the same exporter on the same schedule,
 * half an interval later, in the same run. Bounded by `seconds`.
 *
 * Our clients are real client processes up to REAL_CLIENTS_MAX targets; beyond,
 * one built-in load client process (--channel, as our client's default) plays
 * them all: 200 Node processes do not fit beside the other work of a shared machine.
 *
 * With an upstream directory (--upstream=DIR or PUSHPROX_UPSTREAM_DIR holding
 * upstream's `pushprox-proxy` and `pushprox-client` binaries) the same schedule
 * runs through upstream's proxy and clients too, in the same run.
 */

export const REAL_CLIENTS_MAX = 20;
const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface RealRateOptions {
  readonly targets: number;
  readonly intervalMs: number;
  readonly seconds: number;
  readonly bodyBytes?: number;
  readonly upstreamDir?: string | undefined;
}

export interface Stack {
  readonly port: number;
  readonly procs: readonly Proc[];
  stop(): Promise<void>;
}

export async function ourStack(hosts: readonly string[]): Promise<Stack & { clientKind: string }> {
  const proxy = await startProxyProc();
  const clients =
    hosts.length <= REAL_CLIENTS_MAX
      ? hosts.map((h) => startClientProc(proxy.url, h))
      : [new Proc('built-in load client', process.execPath, [path.join(HERE, 'load-client-main.js'), `--proxy-url=${proxy.url}`, `--fqdns=${hosts.join(',')}`, '--channel'])];
  await waitRegistered(proxy.url, hosts, { timeoutMs: 120_000 });
  return {
    port: proxy.port,
    procs: [proxy, ...clients],
    clientKind: hosts.length <= REAL_CLIENTS_MAX ? 'pushprox-client (default: channel)' : 'built-in load client --channel',
    stop: async () => void (await Promise.all([proxy.stop(), ...clients.map((c) => c.stop())])),
  };
}

export async function upstreamStack(dir: string, hosts: readonly string[]): Promise<Stack> {
  const port = await freePort();
  const proxy = new Proc('upstream pushprox-proxy', path.join(dir, 'pushprox-proxy'), [`--web.listen-address=127.0.0.1:${port}`]);
  const url = `http://127.0.0.1:${port}`;
  await waitListening('127.0.0.1', port, 30_000);
  // Upstream's clients serve metrics on :9369 by default: one port each.
  const clients = hosts.map(
    (h) => new Proc(`upstream pushprox-client ${h}`, path.join(dir, 'pushprox-client'), [`--proxy-url=${url}/`, `--fqdn=${h}`, '--metrics-addr=127.0.0.1:0']),
  );
  await waitRegistered(url, hosts, { timeoutMs: 120_000 });
  return { port, procs: [proxy, ...clients], stop: async () => void (await Promise.all([proxy.stop(), ...clients.map((c) => c.stop())])) };
}

/** One scrape on `agent`; its time to the end of the body, or undefined on failure. */
function scrape(agent: http.Agent, target: string, proxyPort: number | undefined): Promise<number | undefined> {
  const u = new URL(target);
  const headers = { 'X-Prometheus-Scrape-Timeout-Seconds': '1.5', 'Accept-Encoding': 'gzip' };
  const req = proxyPort
    ? { host: '127.0.0.1', port: proxyPort, path: target, headers, agent }
    : { host: u.hostname, port: Number(u.port), path: u.pathname, headers, agent };
  const t0 = performance.now();
  return new Promise((resolve) => {
    const r = http.get(req, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t0 : undefined));
      res.on('error', () => resolve(undefined));
    });
    r.setTimeout(5_000, () => r.destroy(new Error('timeout')));
    r.on('error', () => resolve(undefined));
  });
}

/** Every target on its own schedule for `seconds`: relayed at its offset, direct half an interval later. */
export async function schedule(targets: readonly string[], intervalMs: number, seconds: number, proxyPort: number) {
  const via: number[] = [];
  const direct: number[] = [];
  let errors = 0;
  const agents = targets.map(() => ({ via: new http.Agent({ keepAlive: true, maxSockets: 1 }), direct: new http.Agent({ keepAlive: true, maxSockets: 1 }) }));
  const end = performance.now() + seconds * 1000;
  const inFlight = new Set<Promise<void>>();
  const timers = new Set<NodeJS.Timeout>();
  const tick = (i: number, which: 'via' | 'direct'): void => {
    if (performance.now() >= end) return;
    const p = scrape(agents[i]![which], targets[i]!, which === 'via' ? proxyPort : undefined).then((ms) => {
      if (ms === undefined) errors++;
      else (which === 'via' ? via : direct).push(ms);
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    const t = setTimeout(() => {
      timers.delete(t);
      tick(i, which);
    }, intervalMs);
    timers.add(t);
  };
  targets.forEach((_, i) => {
    const offset = (i / targets.length) * intervalMs;
    for (const [which, at] of [['via', offset], ['direct', offset + intervalMs / 2]] as const) {
      const t = setTimeout(() => {
        timers.delete(t);
        tick(i, which);
      }, at);
      timers.add(t);
    }
  });
  await new Promise((r) => setTimeout(r, seconds * 1000 + 100));
  for (const t of timers) clearTimeout(t);
  await Promise.all([...inFlight]);
  for (const a of agents) {
    a.via.destroy();
    a.direct.destroy();
  }
  return { via, direct, errors };
}

/** Rows for ours (and upstream, when given): p50/p99 relayed and direct, in ms. */
export async function realRateScenario(o: RealRateOptions): Promise<Array<Record<string, unknown>>> {
  const hosts = Array.from({ length: o.targets }, (_, i) => `127.0.1.${10 + i}`);
  const exp = await benchExporter(o.bodyBytes ?? 10 * 1024, false, hosts);
  const targets = hosts.map((h) => `http://${h}:${exp.port}/metrics`);
  const label = `rate: ${o.targets} targets every ${o.intervalMs / 1000} s`;
  const rows: Array<Record<string, unknown>> = [];
  const stacks: Array<['ours' | 'upstream', () => Promise<Stack & { clientKind?: string }>]> = [['ours', () => ourStack(hosts)]];
  const dir = o.upstreamDir;
  if (dir && existsSync(path.join(dir, 'pushprox-proxy')) && existsSync(path.join(dir, 'pushprox-client'))) {
    stacks.push(['upstream', () => upstreamStack(dir, hosts)]);
  }
  try {
    for (const [who, start] of stacks) {
      const stack = await start();
      try {
        // Every connection opened and every path run once before measuring.
        await schedule(targets, Math.min(o.intervalMs, 2_000), 2.5, stack.port);
        // CPU of the proxy and of the clients over the measured window, from /proc.
        const [proxyProc, ...clientProcs] = stack.procs;
        const cpu0 = { proxy: cpuTotal(cpuSplitOf(proxyProc!.pid)), clients: cpuTotal(cpuSplitOfAll(clientProcs)) };
        const r = await schedule(targets, o.intervalMs, o.seconds, stack.port);
        const cpu1 = { proxy: cpuTotal(cpuSplitOf(proxyProc!.pid)), clients: cpuTotal(cpuSplitOfAll(clientProcs)) };
        const v = summarize(r.via);
        const d = summarize(r.direct);
        const row = {
          scenario: `${label} (${who})`,
          programs: who,
          client_kind: stack.clientKind ?? 'upstream pushprox-client',
          targets: o.targets,
          interval_s: o.intervalMs / 1000,
          seconds: o.seconds,
          scrapes: v.count,
          errors: r.errors,
          latency_ms: { p50: v.p50, p90: v.p90, p99: v.p99, max: v.max },
          direct_latency_ms: { p50: d.p50, p99: d.p99 },
          added_p50_ms: v.p50 - d.p50,
          added_p99_ms: v.p99 - d.p99,
          proxy_cpu_ms_per_scrape: ((cpu1.proxy - cpu0.proxy) * 1000) / Math.max(1, v.count),
          clients_cpu_ms_per_scrape: ((cpu1.clients - cpu0.clients) * 1000) / Math.max(1, v.count),
        };
        const f = (n: number) => n.toFixed(2);
        console.log(
          `${row.scenario.padEnd(44)} ${v.count} scrapes, p50 ${f(v.p50)} p99 ${f(v.p99)} ms (direct p50 ${f(d.p50)} p99 ${f(d.p99)}), errors ${r.errors}, CPU per scrape: proxy ${f(row.proxy_cpu_ms_per_scrape)} ms, clients ${f(row.clients_cpu_ms_per_scrape)} ms, clients: ${row.client_kind}`,
        );
        console.log(`JSON ${JSON.stringify(row)}`);
        rows.push(row);
      } finally {
        await stack.stop();
      }
    }
    if (stacks.length === 1) console.log(`${label}: upstream not measured (give --upstream=DIR with its pushprox-proxy and pushprox-client)`);
  } finally {
    await exp.stop();
  }
  return rows;
}
