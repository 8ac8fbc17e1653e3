import { availableParallelism } from 'node:os';
import { summarize, type LatencySummary } from '../bench/stats.js';
import type { ExitRecord, SoakChild } from './child.js';
import type { HostileReport } from './hostile.js';
import type { OrdinaryResults } from './scraper.js';

const MB = 1024 * 1024;

/** Descriptors and memory of one process at one moment. */
export interface ProcSample {
  readonly pid: number;
  readonly fds: number;
  readonly rss: number;
}

export function sampleAll(children: readonly SoakChild[]): Map<SoakChild, ProcSample> {
  return new Map(children.map((c) => [c, { pid: c.pid, fds: c.fds(), rss: c.rss() }]));
}

export interface SoakReport {
  readonly minutes: number;
  readonly wall_s: number;
  readonly machine: { readonly cores: number; readonly node: string };
  readonly interrupted: boolean;
  readonly unexpected_exits: number;
  readonly exits: readonly ExitRecord[];
  readonly processes: ReadonlyArray<Record<string, string | number>>;
  readonly ordinary: {
    readonly scrapes: number;
    readonly ok: number;
    readonly success_rate: number;
    readonly failures_by_reason: Record<string, number>;
    readonly by_target: Record<string, { ok: number; failed: number }>;
    readonly latency_ms: LatencySummary;
    readonly large_latency_ms: LatencySummary;
  };
  /** One scrape of every target after the soak, nothing else running. */
  readonly final_check: { readonly ok: number; readonly scrapes: number; readonly failures_by_reason: Record<string, number> };
  readonly hostile: HostileReport;
  /** The last lines each running process wrote to stderr. */
  readonly stderr_tail: Record<string, readonly string[]>;
}

const mb = (b: number): number => Math.round((b / MB) * 10) / 10;

export function buildReport(o: {
  minutes: number;
  wallS: number;
  interrupted: boolean;
  children: readonly SoakChild[];
  start: Map<SoakChild, ProcSample>;
  end: Map<SoakChild, ProcSample>;
  exits: readonly ExitRecord[];
  ordinary: OrdinaryResults;
  final: OrdinaryResults;
  hostile: HostileReport;
}): SoakReport {
  const count = (m: Map<string, number>): number => [...m.values()].reduce((n, v) => n + v, 0);
  const ok = count(o.ordinary.ok);
  const scrapes = ok + count(o.ordinary.failed);
  const keys = new Set([...o.ordinary.ok.keys(), ...o.ordinary.failed.keys()]);
  return {
    minutes: o.minutes,
    wall_s: Math.round(o.wallS),
    machine: { cores: availableParallelism(), node: process.version },
    interrupted: o.interrupted,
    unexpected_exits: o.exits.length,
    exits: o.exits,
    processes: o.children.map((c) => {
      const s = o.start.get(c);
      const e = o.end.get(c);
      return {
        name: c.name,
        pid_start: s?.pid ?? NaN,
        pid_end: e?.pid ?? NaN,
        restarts: c.restarts,
        fds_start: s?.fds ?? NaN,
        fds_end: e?.fds ?? NaN,
        rss_start_mb: mb(s?.rss ?? NaN),
        rss_end_mb: mb(e?.rss ?? NaN),
        rss_drift_mb: mb((e?.rss ?? NaN) - (s?.rss ?? NaN)),
      };
    }),
    ordinary: {
      scrapes,
      ok,
      success_rate: scrapes === 0 ? NaN : ok / scrapes,
      failures_by_reason: o.ordinary.failures.toJSON(),
      by_target: Object.fromEntries([...keys].sort().map((k) => [k, { ok: o.ordinary.ok.get(k) ?? 0, failed: o.ordinary.failed.get(k) ?? 0 }])),
      latency_ms: round(summarize(o.ordinary.latencyMs.values())),
      large_latency_ms: round(summarize(o.ordinary.largeLatencyMs.values())),
    },
    final_check: { ok: count(o.final.ok), scrapes: count(o.final.ok) + count(o.final.failed), failures_by_reason: o.final.failures.toJSON() },
    hostile: o.hostile,
    stderr_tail: Object.fromEntries(o.children.map((c) => [c.name, c.stderrTail().slice(-5)])),
  };
}

function round(s: LatencySummary): LatencySummary {
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { count: s.count, p50: r(s.p50), p90: r(s.p90), p99: r(s.p99), max: r(s.max) };
}

/** The report as text for a terminal. */
export function formatReport(r: SoakReport): string {
  const out: string[] = [];
  out.push(`soak: ${r.minutes} min requested, ${r.wall_s} s wall, ${r.machine.cores} cores, node ${r.machine.node}${r.interrupted ? ' (INTERRUPTED)' : ''}`);
  out.push('', `unexpected process exits: ${r.unexpected_exits}`);
  for (const e of r.exits) {
    out.push(`  ${e.name} (pid ${e.pid}) exited code=${e.code} signal=${e.signal} at ${e.atS} s; last stderr lines:`);
    for (const l of e.stderrTail.slice(-15)) out.push(`    | ${l}`);
  }
  out.push('', 'process                                   pid(start/end)  restarts  fds start→end  RSS MB start→end (drift)');
  for (const p of r.processes) {
    const pids = p['pid_start'] === p['pid_end'] ? String(p['pid_start']) : `${p['pid_start']}/${p['pid_end']}`;
    out.push(
      `  ${String(p['name']).padEnd(40)} ${pids.padEnd(15)} ${String(p['restarts']).padStart(8)}  ${`${p['fds_start']}→${p['fds_end']}`.padStart(13)}  ` +
        `${p['rss_start_mb']}→${p['rss_end_mb']} (${Number(p['rss_drift_mb']) >= 0 ? '+' : ''}${p['rss_drift_mb']})`,
    );
  }
  const o = r.ordinary;
  out.push('', `ordinary scrapes: ${o.ok}/${o.scrapes} ok (${(o.success_rate * 100).toFixed(3)}%)`);
  out.push(`  latency ms: p50 ${o.latency_ms.p50}, p90 ${o.latency_ms.p90}, p99 ${o.latency_ms.p99}, max ${o.latency_ms.max}; large (8 MB) p50 ${o.large_latency_ms.p50}, p99 ${o.large_latency_ms.p99} (${o.large_latency_ms.count} ok)`);
  for (const [k, v] of Object.entries(o.by_target)) out.push(`  ${k.padEnd(40)} ok ${v.ok}, failed ${v.failed}`);
  if (Object.keys(o.failures_by_reason).length > 0) out.push('  failures by reason:');
  for (const [k, v] of Object.entries(o.failures_by_reason)) out.push(`    ${String(v).padStart(6)}  ${k}`);
  out.push('', `final check (one scrape of every target after the soak): ${r.final_check.ok}/${r.final_check.scrapes} ok`);
  for (const [k, v] of Object.entries(r.final_check.failures_by_reason)) out.push(`    ${String(v).padStart(6)}  ${k}`);
  out.push('', `hostile actions: ${r.hostile.started}`);
  for (const [k, v] of Object.entries(r.hostile.by_kind)) {
    out.push(`  ${k}: ${v.started}`);
    for (const [o2, n] of Object.entries(v.outcomes)) out.push(`    ${String(n).padStart(6)}  ${o2}`);
  }
  return out.join('\n');
}
