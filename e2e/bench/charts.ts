import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderChart, type Chart, type Point, type Series } from './svg-chart.js';

/**
 * The bench's charts, drawn from its JSON rows (the `JSON {...}` lines of
 * `npm run bench`): latency against body size, throughput against
 * concurrency, proxy memory against idle clients. The rows of every run are
 * merged by scenario name into one results file, so a run with `--only`
 * refreshes its own rows and keeps the others.
 */

/** One JSON row of the bench, as printed; only `scenario` is required. */
export type Row = Readonly<Record<string, unknown>> & { readonly scenario: string };

export interface Results {
  readonly rows: Readonly<Record<string, Row>>;
}

/** The chart files, by name, that {@link writeCharts} writes. */
export const CHART_FILES = ['latency-vs-body-size.svg', 'throughput-vs-concurrency.svg', 'memory-vs-idle-clients.svg', 'client-footprint.svg'] as const;

/**
 * Reference figures for upstream PushProx v0.2.0 from issue #5 (not measured
 * on this machine: Go binaries cannot be fetched here). Drawn dashed.
 */
const UPSTREAM = {
  p50MsByBodyBytes: [
    [10 * 1024, 1.2],
    [10 * 1024 * 1024, 26],
  ],
  scrapesPerSByConcurrency: [
    [1, 760],
    [8, 1200],
  ],
} as const;

const str = (r: Row, k: string): string => (typeof r[k] === 'string' ? (r[k] as string) : '');
const numberAt = (r: Row, ...keys: string[]): number | undefined => {
  let v: unknown = r;
  for (const k of keys) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};

export function readResults(file: string): Results {
  if (!existsSync(file)) return { rows: {} };
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { rows?: Record<string, Row> };
  if (parsed.rows === undefined || typeof parsed.rows !== 'object') throw new Error(`${file}: expected {"rows": {...}}, got ${Object.keys(parsed).join(', ') || 'no keys'}`);
  return { rows: parsed.rows };
}

/** `rows` replace the saved rows of the same scenario; the file is written whole (temporary file, then rename). */
export function mergeResults(file: string, rows: readonly Row[]): Results {
  const merged: Record<string, Row> = { ...readResults(file).rows };
  for (const r of rows) if (r['skipped'] === undefined) merged[r.scenario] = r;
  const sorted = Object.fromEntries(Object.keys(merged).sort().map((k) => [k, merged[k]!]));
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify({ rows: sorted }, null, 1)}\n`);
  renameSync(`${file}.tmp`, file);
  return { rows: sorted };
}

/** A relayed scrape row with one client process of ours (not the built-in load client, not the warm repeat). */
const ours = (r: Row): boolean =>
  r['relay'] === 'pushprox' && r['clients'] === 1 && !r.scenario.includes('built-in') && !r.scenario.startsWith('footprint') && r['gzip'] === false;
const channel = (r: Row): boolean => ours(r) && str(r, 'client_args') === '';
const polling = (r: Row): boolean => ours(r) && str(r, 'client_args') === '--no-proxy.channel';
const forwarders = (r: Row): boolean => r['relay'] === 'tcp-forwarders' && r['gzip'] === false;

function series(name: string, rows: readonly Row[], x: (r: Row) => number | undefined, y: (r: Row) => number | undefined, dashed = false): Series {
  const byX = new Map<number, Point>();
  for (const r of rows) {
    const px = x(r);
    const py = y(r);
    if (px !== undefined && py !== undefined && py > 0) byX.set(px, { x: px, y: py, label: `${r.scenario}: ${Number(py.toPrecision(3))}` });
  }
  return { name, points: [...byX.values()], dashed };
}

const bytes = (v: number): string =>
  v >= 1024 * 1024 ? `${Number((v / 1024 / 1024).toPrecision(3))} MB` : v >= 1024 ? `${Number((v / 1024).toPrecision(3))} KB` : `${v} B`;

export function latencyChart(all: readonly Row[]): Chart {
  const serial = all.filter((r) => r['concurrency'] === 1);
  const size = (r: Row) => numberAt(r, 'body_bytes');
  const p50 = (r: Row) => numberAt(r, 'latency_ms', 'p50', 'median');
  return {
    title: 'Scrape latency against body size (serial, p50)',
    note: 'npm run bench: one client, one scrape at a time; median of the repetitions',
    x: { title: 'body size (log scale)', log: true, format: bytes, ticks: [1, 10, 100, 1024, 10 * 1024, 100 * 1024].map((k) => k * 1024) },
    y: { title: 'p50 latency, ms (log scale)', log: true },
    series: [
      series('ours (channel)', serial.filter(channel), size, p50),
      series('ours (polling)', serial.filter(polling), size, p50),
      series('direct scrape', serial.filter(channel), size, (r) => numberAt(r, 'direct_latency_ms', 'p50', 'median')),
      series('2 node:net pipes (floor)', serial.filter(forwarders), size, p50, true),
      { name: 'upstream (issue figures)', points: UPSTREAM.p50MsByBodyBytes.map(([x, y]) => ({ x, y })), dashed: true },
    ],
  };
}

export function throughputChart(all: readonly Row[]): Chart {
  const small = all.filter((r) => r['body_bytes'] === 10 * 1024 && !r.scenario.includes(', after '));
  const conc = (r: Row) => numberAt(r, 'concurrency');
  const sps = (r: Row) => numberAt(r, 'scrapes_per_s', 'median');
  return {
    title: 'Throughput against concurrency (one host, 10 KB)',
    note: 'npm run bench: closed-loop load, N scrapes in flight; median of the repetitions',
    x: { title: 'scrapes in flight (log scale)', log: true },
    y: { title: 'scrapes per second' },
    series: [
      series('ours (channel)', small.filter(channel), conc, sps),
      series('ours (polling)', small.filter(polling), conc, sps),
      series('direct scrape', small.filter(channel), conc, (r) => numberAt(r, 'direct_scrapes_per_s', 'median')),
      series('2 node:net pipes (floor)', small.filter(forwarders), conc, sps, true),
      { name: 'upstream (issue figures)', points: UPSTREAM.scrapesPerSByConcurrency.map(([x, y]) => ({ x, y })), dashed: true },
    ],
  };
}

export function memoryChart(all: readonly Row[]): Chart {
  const idle = (mode: 'channel' | 'poll') =>
    all.filter((r) => r.scenario.startsWith('iv: ') && r['mode'] === mode && !r.scenario.includes('--') && typeof r['clients'] === 'number' && r['clients'] !== 40);
  /** RSS with 0 clients, then after a burst (2 s) or after the idle window (settled), by client count. */
  const points = (mode: 'channel' | 'poll', settled: boolean): Point[] => {
    const rows = idle(mode).sort((a, b) => (a['clients'] as number) - (b['clients'] as number));
    const out = new Map<number, number>();
    for (const r of rows) {
      const n = r['clients'] as number;
      const zero = numberAt(r, 'proxy_rss_idle_mb');
      if (zero !== undefined && !out.has(0)) out.set(0, zero);
      const stage = numberAt(r, 'stage_clients');
      const stageRss = numberAt(r, 'proxy_rss_stage_settled_mb');
      if (settled && stage !== undefined && stageRss !== undefined) out.set(stage, stageRss);
      const at = settled ? numberAt(r, 'proxy_rss_after_window_mb') : numberAt(r, 'proxy_rss_with_clients_mb');
      if (at !== undefined && !(settled && stage === undefined && rows.some((o) => numberAt(o, 'stage_clients') === n))) out.set(n, at);
    }
    return [...out].map(([x, y]) => ({ x, y }));
  };
  return {
    title: 'Proxy memory against idle clients',
    note: 'npm run bench, scenario iv: built-in idle clients, proxy RSS',
    x: { title: 'idle clients', format: (v) => v.toLocaleString('en-US') },
    y: { title: 'proxy RSS, MB' },
    series: [
      { name: 'channels, settled', points: points('channel', true) },
      { name: 'channels, 2 s after burst', points: points('channel', false), dashed: true },
      { name: 'polls, settled', points: points('poll', true) },
      { name: 'polls, 2 s after burst', points: points('poll', false), dashed: true },
    ],
  };
}

/** Writes the charts that have data into `dir`; returns the files written. */
/** The footprint subjects charted, in legend order (footprint.ts names them). */
const FOOTPRINT_SUBJECTS = ['bare node', 'ours, channel', 'ours, channel, mTLS', 'single executable, channel', 'before: single executable, channel', 'upstream (Go)'] as const;

/** RSS (solid) and private memory (dashed) of each footprint subject over its idle window. */
export function footprintChart(all: readonly Row[]): Chart {
  const timeline = (name: string): Array<[number, number, number]> => {
    const r = all.find((x) => x.scenario === `footprint: ${name}`);
    const t = r?.['rss_timeline'];
    return Array.isArray(t) ? (t as Array<[number, number, number]>) : [];
  };
  const line = (name: string, i: 1 | 2): Point[] => timeline(name).map((p) => ({ x: p[0], y: p[i], label: `${name}: ${p[i]} MB at ${p[0].toFixed(0)} s` }));
  const present = FOOTPRINT_SUBJECTS.filter((n) => timeline(n).length > 0);
  return {
    title: 'Client memory, idle, from start',
    note: 'npm run bench -- --only=footprint: RSS (solid) and private memory, RssAnon (dashed)',
    x: { title: 'seconds since start' },
    y: { title: 'MB' },
    series: [...present.map((n) => ({ name: `${n}: RSS`, points: line(n, 1) })), ...present.map((n) => ({ name: `${n}: private`, points: line(n, 2), dashed: true }))],
  };
}

export function writeCharts(results: Results, dir: string): string[] {
  const rows = Object.values(results.rows);
  const charts: Array<[string, Chart]> = [
    [CHART_FILES[0], latencyChart(rows)],
    [CHART_FILES[1], throughputChart(rows)],
    [CHART_FILES[2], memoryChart(rows)],
    [CHART_FILES[3], footprintChart(rows)],
  ];
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [file, chart] of charts) {
    // The reference series alone is no chart of ours.
    if (!chart.series.some((s) => !s.dashed && s.points.length > 0)) continue;
    writeFileSync(path.join(dir, file), renderChart(chart));
    written.push(path.join(dir, file));
  }
  return written;
}
