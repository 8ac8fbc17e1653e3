import { snapshotGrowth } from './heap-snapshot.js';

/** What one program looks like at one moment: RSS from /proc, the rest from its own /metrics. */
export interface Mem {
  readonly rss_mb: number;
  readonly heap_used_mb: number;
  readonly heap_total_mb: number;
  readonly external_mb: number;
  readonly handles: number;
}

export type Side = 'proxy' | 'client';
export type Sample = Readonly<Record<Side, Mem>>;

/** The state after one chunk of the load, and the median RSS while that chunk ran. */
export interface Checkpoint {
  readonly scrapes: number;
  readonly sample: Sample;
  readonly rssMedianMb: Readonly<Record<Side, number>>;
}

export interface HeapSnapshots {
  readonly dir: string;
  readonly files: Readonly<Record<Side, readonly [string, string]>>;
  /** Heap used right after each snapshot, i.e. after V8's full GCs: the live set. */
  readonly liveMb: Readonly<Record<Side, readonly [number, number]>>;
}

export interface LeakRun {
  readonly name: string;
  readonly scrapes: number;
  readonly step: number;
  readonly concurrency: number;
  readonly bodyBytes: number;
  readonly settleSecs: number;
  readonly maxSeconds: number;
  readonly tolerance: number;
  readonly ok: number;
  readonly errors: number;
  readonly loadSeconds: number;
  readonly start: Sample;
  readonly checkpoints: readonly Checkpoint[];
  readonly baselineSettled: Sample | undefined;
  readonly endSettled: Sample;
  readonly peakRssMb: Readonly<Record<Side, number>>;
  readonly heap: HeapSnapshots | undefined;
}

const round = (n: number, d = 3) => Number(n.toFixed(d));

/**
 * The verdict and its figures. "Level after the first 10,000" is the median
 * RSS while scrapes 10,000–20,000 ran; the end level the median while the
 * last 10,000 ran. Both are medians of ~100 ms samples under the same load,
 * because one sample of a Node program lands anywhere on its GC sawtooth
 * (±15% here). The settled single samples are reported beside them.
 */
export function leakRow(r: LeakRun) {
  const complete = r.ok + r.errors >= r.scrapes;
  const baseline = r.checkpoints.find((c) => c.scrapes > r.step);
  const last = r.checkpoints.at(-1);
  const side = (p: Side) => {
    const levelRatio = baseline && last && last !== baseline ? round(last.rssMedianMb[p] / baseline.rssMedianMb[p]) : NaN;
    return {
      start: r.start[p],
      baseline_settled: r.baselineSettled?.[p],
      end_settled: r.endSettled[p],
      rss_level_mb: [baseline?.rssMedianMb[p] ?? NaN, last?.rssMedianMb[p] ?? NaN],
      rss_level_ratio: levelRatio,
      settled_rss_ratio: r.baselineSettled ? round(r.endSettled[p].rss_mb / r.baselineSettled[p].rss_mb) : NaN,
      peak_rss_mb: r.peakRssMb[p],
      pass: levelRatio <= 1 + r.tolerance,
    };
  };
  const proxy = side('proxy');
  const client = side('client');
  return {
    scenario: r.name,
    reps: 1,
    scrapes_run: r.ok + r.errors,
    scrapes_target: r.scrapes,
    complete,
    errors: r.errors,
    load_seconds: round(r.loadSeconds, 1),
    scrapes_per_s: Math.round(r.ok / r.loadSeconds),
    concurrency: r.concurrency,
    body_bytes: r.bodyBytes,
    settle_s: r.settleSecs,
    target: `median RSS during the last ${r.step} scrapes ≤ ${1 + r.tolerance}× median RSS during scrapes ${r.step}–${2 * r.step}`,
    proxy,
    client,
    checkpoints: r.checkpoints.map((c) => ({
      scrapes: c.scrapes,
      proxy_rss_median_mb: c.rssMedianMb.proxy,
      proxy_rss_mb: c.sample.proxy.rss_mb,
      proxy_heap_used_mb: c.sample.proxy.heap_used_mb,
      proxy_handles: c.sample.proxy.handles,
      client_rss_median_mb: c.rssMedianMb.client,
      client_rss_mb: c.sample.client.rss_mb,
      client_heap_used_mb: c.sample.client.heap_used_mb,
      client_handles: c.sample.client.handles,
    })),
    ...(r.heap && {
      heap_snapshots: {
        note: 'diagnostic: the snapshot after the baseline perturbs all RSS after it',
        dir: r.heap.dir,
        live_heap_mb_after_full_gc: r.heap.liveMb,
        proxy: snapshotGrowth(...r.heap.files.proxy),
        client: snapshotGrowth(...r.heap.files.client),
      },
    }),
    pass: complete && r.errors === 0 && proxy.pass && client.pass,
  };
}

/** Prints the table line(s) and the JSON line; returns the row. */
export function reportLeak(r: LeakRun): ReturnType<typeof leakRow> {
  const row = leakRow(r);
  const f = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(1));
  const line = (p: Side) => {
    const s = row[p];
    return (
      `${p} RSS ${f(s.rss_level_mb[0])} → ${f(s.rss_level_mb[1])} MB (${s.rss_level_ratio}×; settled ` +
      `${f(s.baseline_settled?.rss_mb)} → ${f(s.end_settled.rss_mb)}, ${s.settled_rss_ratio}×), ` +
      `heap ${f(s.baseline_settled?.heap_used_mb)} → ${f(s.end_settled.heap_used_mb)} MB`
    );
  };
  console.log(
    `${r.name.padEnd(34)} ${String(row.scrapes_per_s).padStart(7)}/s  ${row.scrapes_run} scrapes in ${row.load_seconds} s` +
      `${row.complete ? '' : ` (stopped by the ${r.maxSeconds} s limit)`}  errors ${row.errors}  ${line('proxy')}; ${line('client')}  ` +
      `${row.pass ? 'PASS' : 'FAIL'} (RSS level ≤ ${1 + r.tolerance}×; 1 repetition)`,
  );
  if (r.heap) {
    const l = r.heap.liveMb;
    console.log(
      `${''.padEnd(34)} heap snapshots (diagnostic; they perturb the RSS above): live heap after full GC ` +
        `proxy ${l.proxy[0]} → ${l.proxy[1]} MB, client ${l.client[0]} → ${l.client[1]} MB`,
    );
  }
  console.log(`JSON ${JSON.stringify(row)}`);
  return row;
}
