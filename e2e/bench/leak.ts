import { PATH_METRICS } from '@pushprox/shared';
import { getUrl } from '../src/http.js';
import { freePort } from '../src/ports.js';
import { CLIENT_BIN, PROXY_BIN, Proc } from '../src/procs.js';
import { waitRegistered } from '../src/proxy-api.js';
import { benchExporter } from './bench-exporter.js';
import { SNAPSHOT_NODE_FLAG, takeHeapSnapshot } from './heap-snapshot.js';
import { reportLeak, type Checkpoint, type HeapSnapshots, type Mem, type Sample } from './leak-report.js';
import { runLoad } from './load.js';
import { PeakSampler, RssWindow, rssOf } from './procstat.js';

/**
 * Scenario `leak` (issue #5): "after 100,000 scrapes, proxy and client RSS
 * return to within 10% of their level after the first 10,000". One proxy,
 * one client and the bench exporter as real processes; the load runs in
 * chunks of `baselineAt` scrapes so both programs are sampled after each.
 * One repetition: the scenario is long and its quantity is a drift, not a rate.
 */
export interface LeakOptions {
  /** Scrapes in all. Default 100,000. */
  readonly scrapes?: number;
  /** Scrapes after which the baseline is taken; also the chunk size. Default 10,000. */
  readonly baselineAt?: number;
  /** Scrapes in flight at once. Default 8. */
  readonly concurrency?: number;
  /** The whole load stops after this long even if `scrapes` were not reached. Default 360 s. */
  readonly maxSeconds?: number;
  /** Idle time before the settled samples after the first chunk and at the end. Default 5 s. */
  readonly settleSecs?: number;
  /** Exporter body size. Default 10 KB. */
  readonly bodyBytes?: number;
  /** More flags for the client, e.g. --no-proxy.channel. Default none (a channel). */
  readonly clientArgs?: readonly string[];
  /** Allowed growth of the RSS level (see leakRow). Default 0.10. */
  readonly tolerance?: number;
  /**
   * Diagnostic, default off: take heap snapshots of both programs (written
   * here) after the settled baseline and at the end, and report their live
   * heap after full GC and what grew. The first snapshot perturbs the RSS
   * that follows, so a run with snapshots is not a pass/fail measurement.
   */
  readonly heapSnapshotDir?: string;
}

const MB = 1024 * 1024;
const METRICS = {
  heap_used_mb: ['nodejs_heap_size_used_bytes', MB],
  heap_total_mb: ['nodejs_heap_size_total_bytes', MB],
  external_mb: ['nodejs_external_memory_bytes', MB],
  // The sum over its type label: prom-client's nodejs_active_handles_total is dropped (promtool rejects it).
  handles: ['nodejs_active_handles', 1],
} as const;
const round = (n: number) => Number(n.toFixed(1));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function memOf(pid: number, metricsUrl: string): Promise<Mem> {
  // RSS first: fetching /metrics makes the program allocate.
  const rss = rssOf(pid);
  const text = (await getUrl(metricsUrl, { timeoutMs: 10_000 })).body.toString();
  const value = (name: string) => {
    const series = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))];
    return series.length === 0 ? Number.NaN : series.reduce((sum, m) => sum + Number(m[1]), 0);
  };
  const m = Object.fromEntries(Object.entries(METRICS).map(([k, [name, unit]]) => [k, round(value(name) / unit)]));
  return { rss_mb: round(rss / MB), ...m } as unknown as Mem;
}

export async function leakScenario(o: LeakOptions = {}) {
  const scrapes = o.scrapes ?? 100_000;
  const step = o.baselineAt ?? 10_000;
  const concurrency = o.concurrency ?? 8;
  const maxSeconds = o.maxSeconds ?? 360;
  const settleSecs = o.settleSecs ?? 5;
  const bodyBytes = o.bodyBytes ?? 10 * 1024;
  const dir = o.heapSnapshotDir;
  const extra = o.clientArgs ?? [];
  const name = `leak: ${scrapes.toLocaleString('en')} scrapes, ${concurrency} parallel, ${bodyBytes / 1024} KB${extra.length ? ` ${extra.join(' ')}` : ''}`;

  const procs: Proc[] = [];
  let peak: PeakSampler | undefined;
  let window: RssWindow | undefined;
  try {
    const exp = await benchExporter(bodyBytes);
    procs.push(exp);
    // Not startProxyProc/startClientProc: those take no Node flags, and the client one turns its metrics off.
    const nodeFlags = dir ? [SNAPSHOT_NODE_FLAG] : [];
    const cwd = dir ? { cwd: dir } : {};
    const proxy = new Proc('pushprox-proxy', process.execPath, [...nodeFlags, PROXY_BIN, '--web.listen-address=127.0.0.1:0'], cwd);
    procs.push(proxy);
    const proxyPort = Number((await proxy.waitFor(/msg=Listening address=127\.0\.0\.1:(\d+)/))[1]);
    const proxyUrl = `http://127.0.0.1:${proxyPort}`;
    const clientMetricsPort = await freePort();
    const clientArgs = [`--proxy-url=${proxyUrl}`, '--fqdn=127.0.0.1', `--metrics-addr=127.0.0.1:${clientMetricsPort}`, ...extra];
    const client = new Proc('pushprox-client 127.0.0.1', process.execPath, [...nodeFlags, CLIENT_BIN, ...clientArgs], cwd);
    procs.push(client);
    await waitRegistered(proxyUrl, '127.0.0.1', { timeoutMs: 60_000, client });
    await sleep(500);

    const pids = { proxy: proxy.pid, client: client.pid };
    const urls = { proxy: `${proxyUrl}${PATH_METRICS}`, client: `http://127.0.0.1:${clientMetricsPort}${PATH_METRICS}` };
    const sample = async (): Promise<Sample> => ({ proxy: await memOf(pids.proxy, urls.proxy), client: await memOf(pids.client, urls.client) });
    const snapshot = async () => {
      if (!dir) return undefined;
      const files = [await takeHeapSnapshot(proxy, dir, () => getUrl(urls.proxy)), await takeHeapSnapshot(client, dir, () => getUrl(urls.client))];
      const live = await sample();
      return { files, live: [live.proxy.heap_used_mb, live.client.heap_used_mb] };
    };
    const target = `http://127.0.0.1:${exp.port}${PATH_METRICS}`;
    const start = await sample();
    const checkpoints: Checkpoint[] = [];
    peak = new PeakSampler(pids, 100);
    const deadline = Date.now() + maxSeconds * 1000;
    let ok = 0;
    let errors = 0;
    let loadSeconds = 0;
    let baselineSettled: Sample | undefined;
    let first: Awaited<ReturnType<typeof snapshot>>;
    while (ok + errors < scrapes && Date.now() < deadline) {
      window = new RssWindow(pids, 100);
      const r = await runLoad({
        target,
        proxyPort,
        concurrency,
        maxRequests: Math.min(step, scrapes - ok - errors),
        maxSeconds: (deadline - Date.now()) / 1000,
      });
      const medians = window.stop();
      ok += r.latenciesMs.length;
      errors += r.errors;
      loadSeconds += r.seconds;
      const rssMedianMb = { proxy: round(medians['proxy']! / MB), client: round(medians['client']! / MB) };
      checkpoints.push({ scrapes: ok + errors, sample: await sample(), rssMedianMb });
      if (!baselineSettled && ok + errors >= step) {
        await sleep(settleSecs * 1000);
        baselineSettled = await sample();
        first = await snapshot();
      }
    }
    await sleep(settleSecs * 1000);
    const endSettled = await sample();
    const peaks = peak.stop();
    const last = await snapshot();
    const heap: HeapSnapshots | undefined = dir && first && last
      ? {
          dir,
          files: { proxy: [first.files[0]!, last.files[0]!], client: [first.files[1]!, last.files[1]!] },
          liveMb: { proxy: [first.live[0]!, last.live[0]!], client: [first.live[1]!, last.live[1]!] },
        }
      : undefined;
    return reportLeak({
      name, scrapes, step, concurrency, bodyBytes, settleSecs, maxSeconds, tolerance: o.tolerance ?? 0.1,
      ok, errors, loadSeconds, start, checkpoints, baselineSettled, endSettled, heap,
      peakRssMb: { proxy: round(peaks['proxy']! / MB), client: round(peaks['client']! / MB) },
    });
  } finally {
    window?.stop();
    peak?.stop();
    await Promise.all(procs.map((p) => p.stop()));
  }
}
